#!/usr/bin/env node
// Checks that a MongoDB-wire server really answers: runs `{ping: 1}` on `admin` and expects ok: 1.
// Used by tools/infra.sh as the health check of the local FerretDB (or of a user-given MONGO_URL).
//
// With the `mongodb` driver (node_modules, after `npm ci`) it does a full driver connect + ping.
// Without it (e.g. a fresh clone before `npm ci`) it sends one raw OP_MSG ping over TCP, which
// works for plain mongodb://host:port URLs (no credentials, TLS, SRV or replica sets).
//
// Usage: node tools/wait-for-mongo.js <mongodb-url> [--timeout SECONDS] [--quiet]
//   --timeout  keep retrying for this long (default 0: a single attempt of at most ~3 s)
// Exit codes: 0 answered; 1 did not answer in time; 2 bad usage; 3 cannot check this URL
// without the `mongodb` driver (run `npm ci`).
'use strict';

const net = require('node:net');

const args = process.argv.slice(2);
let url;
let timeoutSec = 0;
let quiet = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--timeout') timeoutSec = Number(args[++i]);
  else if (a === '--quiet') quiet = true;
  else if (!url) url = a;
  else {
    console.error(`wait-for-mongo: unexpected argument ${a}`);
    process.exit(2);
  }
}
if (!url || !Number.isFinite(timeoutSec) || timeoutSec < 0) {
  console.error('usage: node tools/wait-for-mongo.js <mongodb-url> [--timeout SECONDS] [--quiet]');
  process.exit(2);
}
const redacted = url.replace(/\/\/[^@/]*@/, '//***@');

let MongoClient;
try {
  ({ MongoClient } = require('mongodb'));
} catch {
  MongoClient = undefined;
}

async function driverPing() {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 2500,
    connectTimeoutMS: 2500,
    socketTimeoutMS: 5000,
    appName: 'flops-infra-health',
  });
  try {
    await client.connect();
    const res = await client.db('admin').command({ ping: 1 });
    if (!res || res.ok !== 1) throw new Error(`unexpected ping reply ${JSON.stringify(res)}`);
  } finally {
    // close() would send `endSessions` for the pooled implicit session; FerretDB 1.x does not
    // implement that command and logs a WARN for every health check. The session is
    // server-side garbage anyway, so forget it (driver internals; harmless if they change).
    try {
      client.s.sessionPool.sessions.clear();
    } catch {
      /* ignore */
    }
    await client.close().catch(() => {});
  }
}

// --- raw OP_MSG ping, no driver -------------------------------------------------------------

// mongodb://host[:port][/db][?opts] without credentials, SRV, TLS or a host list.
function plainHostPort(u) {
  const m = /^mongodb:\/\/([^/@,?]+)(\/[^?]*)?(\?.*)?$/.exec(u);
  if (!m || /(^|[?&])(tls|ssl)=true/i.test(m[3] || '')) return undefined;
  const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(m[1]);
  if (!hp) return undefined;
  return { host: hp[1].replace(/^\[|\]$/g, ''), port: Number(hp[2] || 27017) };
}

function bsonCString(s) {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

// BSON of {ping: 1 (int32), $db: "admin"}.
function pingDoc() {
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  const admin = bsonCString('admin');
  const adminLen = Buffer.alloc(4);
  adminLen.writeInt32LE(admin.length);
  const body = Buffer.concat([
    Buffer.from([0x10]), bsonCString('ping'), one,
    Buffer.from([0x02]), bsonCString('$db'), adminLen, admin,
    Buffer.from([0x00]),
  ]);
  const len = Buffer.alloc(4);
  len.writeInt32LE(body.length + 4);
  return Buffer.concat([len, body]);
}

// The numeric value of the top-level field `name` of a BSON document, or undefined.
function bsonNumber(doc, name) {
  let i = 4;
  while (i < doc.length && doc[i] !== 0) {
    const type = doc[i++];
    const end = doc.indexOf(0, i);
    const key = doc.toString('utf8', i, end);
    i = end + 1;
    let size;
    switch (type) {
      case 0x01: if (key === name) return doc.readDoubleLE(i); size = 8; break;
      case 0x10: if (key === name) return doc.readInt32LE(i); size = 4; break;
      case 0x12: if (key === name) return Number(doc.readBigInt64LE(i)); size = 8; break;
      case 0x08: if (key === name) return doc[i]; size = 1; break;
      case 0x02: case 0x0d: case 0x0e: size = 4 + doc.readInt32LE(i); break;
      case 0x03: case 0x04: size = doc.readInt32LE(i); break;
      case 0x05: size = 5 + doc.readInt32LE(i); break;
      case 0x07: size = 12; break;
      case 0x09: case 0x11: size = 8; break;
      case 0x0a: case 0x06: case 0xff: case 0x7f: size = 0; break;
      case 0x13: size = 16; break;
      default: return undefined;
    }
    i += size;
  }
  return undefined;
}

function rawPing({ host, port }) {
  return new Promise((resolve, reject) => {
    const doc = pingDoc();
    const header = Buffer.alloc(16 + 4 + 1);
    header.writeInt32LE(header.length + doc.length, 0); // messageLength
    header.writeInt32LE(1, 4); // requestID
    header.writeInt32LE(0, 8); // responseTo
    header.writeInt32LE(2013, 12); // OP_MSG
    header.writeUInt32LE(0, 16); // flagBits
    header.writeUInt8(0, 20); // section kind 0: body
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const fail = (e) => { sock.destroy(); reject(e); };
    sock.setTimeout(3000, () => fail(new Error('timeout')));
    sock.on('error', fail);
    sock.on('connect', () => sock.write(Buffer.concat([header, doc])));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < buf.readInt32LE(0)) return;
      sock.destroy();
      if (buf.readInt32LE(12) !== 2013 || buf[20] !== 0) return reject(new Error('unexpected reply'));
      const ok = bsonNumber(buf.subarray(21), 'ok');
      if (ok === 1) resolve();
      else reject(new Error(`ping reply ok=${ok}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------

let attempt;
if (MongoClient) {
  attempt = driverPing;
} else {
  const target = plainHostPort(url);
  if (!target) {
    if (!quiet) console.error(`wait-for-mongo: cannot check ${redacted} without the "mongodb" driver (run npm ci)`);
    process.exit(3);
  }
  attempt = () => rawPing(target);
}

(async () => {
  const deadline = Date.now() + timeoutSec * 1000;
  let lastErr;
  for (;;) {
    try {
      await attempt();
      if (!quiet) console.log(`wait-for-mongo: ${redacted} answered ping${MongoClient ? '' : ' (raw OP_MSG)'}`);
      process.exit(0);
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!quiet) console.error(`wait-for-mongo: ${redacted} did not answer ping: ${lastErr && lastErr.message}`);
  process.exit(1);
})();
