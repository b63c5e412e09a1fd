import mongoose, { Connection } from 'mongoose';

/** One connection per service; models are registered on it rather than on mongoose's global. */
export async function connectDatabase(url: string, dbName: string): Promise<Connection> {
  const connection = mongoose.createConnection(url, {
    dbName,
    serverSelectionTimeoutMS: 10_000,
    // FerretDB and single-node servers have no transactions; FLOps never needs them.
    retryWrites: false,
  });
  await connection.asPromise();
  return connection;
}
