import { combine, split } from 'shamir-secret-sharing';
import { EngineError } from '../../errors';
import { RandomSource } from '../random';
import { KeyPair, agreeKey, expandMask, generateKeyPair, open, privateKeyFromRaw, randomSeed, rawPrivateKey, ringOrder, seal, seedKey } from './crypto';

/**
 * Secure aggregation in the SecAgg+ family (Bonawitz et al., CCS 2017; Bell et al., CCS 2020), for
 * honest-but-curious parties, as pure state machines for both sides: `SecAggLearner` and `SecAggAggregator`
 * exchange the plain objects below, whatever carries them. The aggregator learns the sum of the learners'
 * quantised vectors, never one of them.
 *
 *   1. advertise keys   each learner: two X25519 key pairs, c (to encrypt shares) and s (to agree masks)
 *   2. share keys       each learner: a self-mask seed b; b and its s private key are split t-of-k (Shamir)
 *                       among its k neighbours, each share encrypted (AES-GCM, key from X25519 + HKDF)
 *   3. masked input     y_u = q(x_u) + PRG(b_u) + Σ_v ±PRG(s_uv) mod 2^32, one pairwise mask per neighbour v
 *                       (+ if u < v, − otherwise), s_uv agreed by X25519 + HKDF; the aggregator adds the y_u
 *                       into one running sum as they arrive
 *   4. unmasking        each learner reveals, per neighbour, the share of b (neighbour still there) or of its
 *                       s key (neighbour dropped after sharing), never both; with t shares the aggregator
 *                       removes the self masks of the survivors and the pairwise masks of the dropped
 *
 * Neighbours (SecAgg+): a ring in a public keyed order, each learner joined to the k/2 before and after it;
 * k = n − 1 is classic SecAgg. A round completes while no learner has lost more than k − t neighbours.
 * Every key and mask is bound to the round id (HKDF salt, AES-GCM associated data): nothing replays across rounds.
 */

export interface SecAggSettings {
  /** Unique per round: binds every key and mask to it. */
  roundId: string;
  /** Public seed of the neighbour graph's order (the aggregator picks it at random). */
  graphSeed: string;
  participants: string[];
  /** k: neighbours per learner (at most n − 1). */
  neighbours: number;
  /** t: shares needed to reconstruct a learner's secrets; > k / 2. */
  threshold: number;
  /** Length of the masked vectors (32-bit words). */
  vectorLength: number;
}

export interface KeyAdvertisement {
  learnerId: string;
  /** Public key for encrypting shares to this learner. */
  encryptionKey: Uint8Array;
  /** Public key for agreeing pairwise masks with this learner. */
  maskingKey: Uint8Array;
}

/** What the aggregator tells a learner after step 1: its neighbours' public keys. */
export interface KeyDirectory {
  neighbours: KeyAdvertisement[];
}

export interface EncryptedShare {
  from: string;
  to: string;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

export interface ShareBundle {
  learnerId: string;
  shares: EncryptedShare[];
}

/** What the aggregator forwards to a learner after step 2: the shares its neighbours sent it. */
export interface Mailbox {
  shares: EncryptedShare[];
}

export interface MaskedInput {
  learnerId: string;
  masked: Uint32Array;
}

/** Step 4's question to a learner: which of its neighbours are still there and which dropped. */
export interface UnmaskRequest {
  survivors: string[];
  dropped: string[];
}

export interface RevealedShare {
  of: string;
  share: Uint8Array;
}

export interface UnmaskResponse {
  learnerId: string;
  /** Shares of surviving neighbours' self-mask seeds. */
  seedShares: RevealedShare[];
  /** Shares of dropped neighbours' masking private keys. */
  keyShares: RevealedShare[];
}

/** The protocol cannot go on (too many dropouts, a message out of order, a failed check). */
export class SecAggError extends EngineError {
  override name = 'SecAggError';
}

/** Each learner's neighbours among `members`: the k/2 before and after it on the keyed ring (k rounded up to even). */
export function neighbourGraph(members: readonly string[], graphSeed: string, neighbours: number): Map<string, Set<string>> {
  const ring = ringOrder(members, graphSeed);
  const n = ring.length;
  const half = Math.ceil(Math.min(neighbours, n - 1) / 2);
  const graph = new Map(ring.map((id) => [id, new Set<string>()]));
  ring.forEach((id, i) => {
    for (let step = 1; step <= half; step++) {
      for (const j of [(i + step) % n, (i - step + n) % n]) if (j !== i) graph.get(id)!.add(ring[j]);
    }
  });
  return graph;
}

/** The shares in a decrypted envelope: the holder's share of the sender's seed and of its masking key. */
function packShares(seedShare: Uint8Array, keyShare: Uint8Array): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16LE(seedShare.length, 0);
  return Buffer.concat([head, seedShare, keyShare]);
}

function unpackShares(plain: Buffer): { seedShare: Buffer; keyShare: Buffer } {
  const length = plain.readUInt16LE(0);
  return { seedShare: plain.subarray(2, 2 + length), keyShare: plain.subarray(2 + length) };
}

function associated(settings: SecAggSettings, from: string, to: string): string {
  return JSON.stringify([settings.roundId, from, to]);
}

function checkSettings(settings: SecAggSettings): void {
  const n = settings.participants.length;
  if (new Set(settings.participants).size !== n) throw new SecAggError('participants must be distinct');
  if (n < 3) throw new SecAggError('secure aggregation needs at least 3 learners');
  if (!(settings.neighbours >= 2 && settings.neighbours <= Math.min(255, n - 1))) throw new SecAggError(`neighbours must be from 2 to ${Math.min(255, n - 1)}`);
  if (!(settings.threshold > settings.neighbours / 2 && settings.threshold <= settings.neighbours)) {
    throw new SecAggError(`threshold must be a majority of the ${settings.neighbours} neighbours and at most all of them`);
  }
  if (!Number.isInteger(settings.vectorLength) || settings.vectorLength < 1) throw new SecAggError('vectorLength must be a positive integer');
}

/**
 * Stochastic quantisation (unbiased): each value in [−range, range] (clamped) to an integer in [0, levels],
 * q = ⌊(x + range)·levels / (2·range) + u⌋, u uniform in [0, 1).
 */
export function quantize(values: ArrayLike<number>, range: number, levels: number, random: RandomSource): Uint32Array {
  const out = new Uint32Array(values.length);
  const uniform = new Float64Array(values.length);
  random.fillUniform(uniform);
  const scale = levels / (2 * range);
  for (let i = 0; i < out.length; i++) {
    const x = Math.min(range, Math.max(-range, values[i]));
    out[i] = Math.min(levels, Math.floor((x + range) * scale + uniform[i]));
  }
  return out;
}

/** Σ of `count` values from the sum of their quantisations. */
export function dequantizeSum(sum: Uint32Array, count: number, range: number, levels: number): Float64Array {
  const step = (2 * range) / levels;
  return Float64Array.from(sum, (q) => q * step - count * range);
}

/** A learner's side of one round. */
export class SecAggLearner {
  private readonly encryption: KeyPair = generateKeyPair();
  private readonly masking: KeyPair = generateKeyPair();
  private readonly seed = randomSeed();
  private stage: 'keys' | 'shares' | 'input' | 'unmask' | 'done' = 'keys';
  private neighbours = new Map<string, KeyAdvertisement>();
  /** Shares this learner holds for its neighbours, by neighbour. */
  private readonly held = new Map<string, { seedShare: Buffer; keyShare: Buffer }>();

  constructor(
    readonly learnerId: string,
    private readonly settings: SecAggSettings,
    private readonly random: RandomSource,
  ) {
    checkSettings(settings);
    if (!settings.participants.includes(learnerId)) throw new SecAggError(`${learnerId} is not a participant of round ${settings.roundId}`);
  }

  advertiseKeys(): KeyAdvertisement {
    this.advance('keys', 'shares');
    return { learnerId: this.learnerId, encryptionKey: this.encryption.publicKey, maskingKey: this.masking.publicKey };
  }

  /** Splits the seed and the masking key t-of-k among the neighbours, each share encrypted to its holder. */
  async shareKeys(directory: KeyDirectory): Promise<ShareBundle> {
    this.advance('shares', 'input');
    const { neighbours, threshold } = this.settings;
    const peers = directory.neighbours.filter((n) => n.learnerId !== this.learnerId);
    if (peers.length < threshold) throw new SecAggError(`${this.learnerId} has ${peers.length} neighbours, fewer than the threshold ${threshold}`);
    if (peers.length > neighbours) throw new SecAggError(`${this.learnerId} was given ${peers.length} neighbours, more than ${neighbours}`);
    this.neighbours = new Map(peers.map((n) => [n.learnerId, n]));
    // Plain Uint8Array copies: the sharing library checks `instanceof Uint8Array`, which a Buffer from another realm fails.
    const [seedShares, keyShares] = await Promise.all([
      split(Uint8Array.from(this.seed), peers.length, threshold),
      split(Uint8Array.from(rawPrivateKey(this.masking.privateKey)), peers.length, threshold),
    ]);
    const shares = peers.map((peer, i) => {
      const key = agreeKey(this.encryption.privateKey, peer.encryptionKey, this.settings.roundId, 'share');
      const { iv, ciphertext } = seal(key, packShares(seedShares[i], keyShares[i]), associated(this.settings, this.learnerId, peer.learnerId));
      return { from: this.learnerId, to: peer.learnerId, iv, ciphertext };
    });
    return { learnerId: this.learnerId, shares };
  }

  /**
   * The masked vector: `input` (values in [−range, range], length vectorLength) quantised, plus the self mask
   * and one pairwise mask per neighbour that shared with us (the mailbox tells which did).
   */
  maskedInput(mailbox: Mailbox, input: ArrayLike<number>, range: number, levels: number): MaskedInput {
    this.advance('input', 'unmask');
    if (input.length !== this.settings.vectorLength) throw new SecAggError(`input has ${input.length} values, the round ${this.settings.vectorLength}`);
    for (const share of mailbox.shares) {
      const sender = this.neighbours.get(share.from);
      if (!sender || share.to !== this.learnerId) throw new SecAggError(`a share from ${share.from} to ${share.to} is not for ${this.learnerId}`);
      const key = agreeKey(this.encryption.privateKey, sender.encryptionKey, this.settings.roundId, 'share');
      this.held.set(share.from, unpackShares(open(key, share.iv, share.ciphertext, associated(this.settings, share.from, this.learnerId))));
    }
    const masked = quantize(input, range, levels, this.random);
    const self = expandMask(seedKey(this.seed, this.settings.roundId, 'self-mask'), masked.length);
    for (let i = 0; i < masked.length; i++) masked[i] += self[i];
    for (const peer of this.held.keys()) {
      const pairwise = expandMask(agreeKey(this.masking.privateKey, this.neighbours.get(peer)!.maskingKey, this.settings.roundId, 'pair-mask'), masked.length);
      if (this.learnerId < peer) for (let i = 0; i < masked.length; i++) masked[i] += pairwise[i];
      else for (let i = 0; i < masked.length; i++) masked[i] -= pairwise[i];
    }
    return { learnerId: this.learnerId, masked };
  }

  /**
   * Reveals, for each neighbour that shared with us, one share: of its seed if it survived, of its masking
   * key if it dropped. Refuses a request that names a neighbour in both lists or leaves fewer than t
   * survivors (revealing keys then could expose a survivor's input).
   */
  unmask(request: UnmaskRequest): UnmaskResponse {
    this.advance('unmask', 'done');
    const survivors = new Set(request.survivors);
    if (request.dropped.some((id) => survivors.has(id))) throw new SecAggError('a learner cannot both survive and drop');
    if (!survivors.has(this.learnerId)) throw new SecAggError(`${this.learnerId} is asked to unmask but not listed as a survivor`);
    if (survivors.size < this.settings.threshold) throw new SecAggError(`only ${survivors.size} survivors, fewer than the threshold ${this.settings.threshold}`);
    const seedShares: RevealedShare[] = [];
    const keyShares: RevealedShare[] = [];
    for (const [of, { seedShare, keyShare }] of this.held) {
      if (survivors.has(of)) seedShares.push({ of, share: seedShare });
      else if (request.dropped.includes(of)) keyShares.push({ of, share: keyShare });
    }
    return { learnerId: this.learnerId, seedShares, keyShares };
  }

  private advance(expected: SecAggLearner['stage'], next: SecAggLearner['stage']): void {
    if (this.stage !== expected) throw new SecAggError(`${this.learnerId}: step "${expected}" is not due (at "${this.stage}")`);
    this.stage = next;
  }
}

/** The result of a round: the sum of the survivors' quantised vectors (mod 2^32, exact below it). */
export interface SecAggSum {
  sum: Uint32Array;
  survivors: string[];
}

/** The aggregator's side of one round. It keeps public keys, routes ciphertexts and holds one running sum. */
export class SecAggAggregator {
  private stage: 'keys' | 'shares' | 'input' | 'unmask' | 'done' = 'keys';
  private readonly keys = new Map<string, KeyAdvertisement>();
  private graph = new Map<string, Set<string>>();
  private readonly mailboxes = new Map<string, EncryptedShare[]>();
  private readonly shared = new Set<string>();
  private readonly sum: Uint32Array;
  private readonly inputs = new Set<string>();
  private readonly responses = new Map<string, UnmaskResponse>();

  constructor(private readonly settings: SecAggSettings) {
    checkSettings(settings);
    this.sum = new Uint32Array(settings.vectorLength);
  }

  acceptKeys(advertisement: KeyAdvertisement): void {
    this.expect('keys');
    this.checkParticipant(advertisement.learnerId);
    this.keys.set(advertisement.learnerId, advertisement);
  }

  /** Ends step 1: the learners that advertised keys form the graph; each gets its neighbours' keys. */
  closeKeys(): Map<string, KeyDirectory> {
    this.expect('keys');
    this.requireAtLeast(this.keys.size, 'learners advertised keys');
    this.graph = neighbourGraph([...this.keys.keys()], this.settings.graphSeed, this.settings.neighbours);
    this.stage = 'shares';
    return new Map([...this.graph].map(([id, peers]) => [id, { neighbours: [...peers].map((p) => this.keys.get(p)!) }]));
  }

  acceptShares(bundle: ShareBundle): void {
    this.expect('shares');
    const peers = this.graph.get(bundle.learnerId);
    if (!peers) throw new SecAggError(`${bundle.learnerId} advertised no keys this round`);
    const targets = new Set(bundle.shares.map((s) => s.to));
    if (bundle.shares.some((s) => s.from !== bundle.learnerId) || targets.size !== peers.size || [...peers].some((p) => !targets.has(p))) {
      throw new SecAggError(`${bundle.learnerId} must send exactly one share to each of its ${peers.size} neighbours`);
    }
    this.shared.add(bundle.learnerId);
    for (const share of bundle.shares) this.mailboxes.set(share.to, [...(this.mailboxes.get(share.to) ?? []).filter((s) => s.from !== share.from), share]);
  }

  /** Ends step 2: each learner that shared gets the shares its sharing neighbours sent it. */
  closeShares(): Map<string, Mailbox> {
    this.expect('shares');
    this.requireAtLeast(this.shared.size, 'learners shared their keys');
    this.stage = 'input';
    return new Map([...this.shared].map((id) => [id, { shares: (this.mailboxes.get(id) ?? []).filter((s) => this.shared.has(s.from)) }]));
  }

  /** Adds a masked vector into the running sum; the vector itself is not kept. */
  acceptMaskedInput(input: MaskedInput): void {
    this.expect('input');
    if (!this.shared.has(input.learnerId)) throw new SecAggError(`${input.learnerId} did not share its keys this round`);
    if (this.inputs.has(input.learnerId)) throw new SecAggError(`${input.learnerId} already sent its masked input`);
    if (input.masked.length !== this.sum.length) throw new SecAggError(`masked input has ${input.masked.length} words, the round ${this.sum.length}`);
    for (let i = 0; i < this.sum.length; i++) this.sum[i] += input.masked[i];
    this.inputs.add(input.learnerId);
  }

  /** Ends step 3: asks every learner that sent an input which of its neighbours' secrets to reveal. */
  closeMaskedInputs(): Map<string, UnmaskRequest> {
    this.expect('input');
    this.requireAtLeast(this.inputs.size, 'learners sent masked inputs');
    this.stage = 'unmask';
    return new Map(
      [...this.inputs].map((id) => {
        const peers = [...this.graph.get(id)!].filter((p) => this.shared.has(p));
        return [id, { survivors: [...this.inputs], dropped: peers.filter((p) => !this.inputs.has(p)) }];
      }),
    );
  }

  acceptUnmask(response: UnmaskResponse): void {
    this.expect('unmask');
    if (!this.inputs.has(response.learnerId)) throw new SecAggError(`${response.learnerId} is not a survivor`);
    this.responses.set(response.learnerId, response);
  }

  /** Ends step 4: removes the masks and returns the sum of the survivors' quantised inputs. */
  async finish(): Promise<SecAggSum> {
    this.expect('unmask');
    const survivors = [...this.inputs];
    const dropped = [...this.shared].filter((id) => !this.inputs.has(id));
    const sharesOf = (of: string, kind: 'seedShares' | 'keyShares'): Uint8Array[] =>
      [...this.responses.values()].flatMap((r) => r[kind].filter((s) => s.of === of).map((s) => s.share));
    const reconstruct = async (of: string, kind: 'seedShares' | 'keyShares', what: string): Promise<Uint8Array> => {
      const shares = sharesOf(of, kind);
      if (shares.length < this.settings.threshold) {
        throw new SecAggError(`cannot remove ${of}'s ${what}: ${shares.length} of ${this.settings.threshold} shares arrived (too many learners dropped)`);
      }
      return combine(shares.slice(0, this.settings.threshold).map((share) => Uint8Array.from(share)));
    };
    for (const id of survivors) {
      const self = expandMask(seedKey(await reconstruct(id, 'seedShares', 'self mask'), this.settings.roundId, 'self-mask'), this.sum.length);
      for (let i = 0; i < this.sum.length; i++) this.sum[i] -= self[i];
    }
    for (const gone of dropped) {
      const privateKey = privateKeyFromRaw(await reconstruct(gone, 'keyShares', 'pairwise masks'));
      for (const peer of this.graph.get(gone)!) {
        if (!this.inputs.has(peer)) continue;
        // The survivor `peer` added +mask if peer < gone, −mask otherwise: take that back.
        const pairwise = expandMask(agreeKey(privateKey, this.keys.get(peer)!.maskingKey, this.settings.roundId, 'pair-mask'), this.sum.length);
        if (peer < gone) for (let i = 0; i < this.sum.length; i++) this.sum[i] -= pairwise[i];
        else for (let i = 0; i < this.sum.length; i++) this.sum[i] += pairwise[i];
      }
    }
    this.stage = 'done';
    return { sum: this.sum, survivors };
  }

  private expect(stage: SecAggAggregator['stage']): void {
    if (this.stage !== stage) throw new SecAggError(`step "${stage}" is not due (at "${this.stage}")`);
  }

  private checkParticipant(id: string): void {
    if (!this.settings.participants.includes(id)) throw new SecAggError(`${id} is not a participant of round ${this.settings.roundId}`);
  }

  private requireAtLeast(count: number, what: string): void {
    if (count < this.settings.threshold + 1) throw new SecAggError(`only ${count} ${what}; the round needs at least ${this.settings.threshold + 1}`);
  }
}
