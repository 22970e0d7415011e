import type { Server } from "node:http";
import { createRequire } from "node:module";
import { AsyncSlot } from "@nexus/core/async-slot";

/**
 * Two faults of dynalite (the locked 4.0.0) fixed where it is loaded, so the local table behaves like DynamoDB.
 *
 * 1. Atomic writes. dynalite writes an item and its secondary-index entries as separate LevelDB writes: index deletes, then index
 * puts, then the item. A process killed between them (kill -9, a crash, a power cut of the laptop) leaves an item
 * missing from an index, or an index entry for a state the item never reached: a task that no listing, and so no
 * recovery, can find again. DynamoDB applies an item and its indexes as one change.
 *
 * This makes dynalite do the same: the index changes of a put, update or delete are held back and written in one
 * LevelDB batch with the item itself. The local runtime's kill drills test it.
 *
 * 2. Iterators closed. Every Query and Scan opens a LevelDB iterator and stops reading when it has its page, without
 * closing it. An open iterator pins the files it reads, so compaction never frees them: the table's directory
 * grew by about 80 KB per stored task (for items under 1 KB) and the process's memory with it. Here every iterator
 * a request opened is closed once its response is sent.
 *
 * Both reach into dynalite's internals (its `db` module, key layout and LevelDB handle), so `startDynamo` applies
 * them to every dynalite it starts.
 */

interface Table {
  TableName: string;
  LocalSecondaryIndexes?: unknown[];
  GlobalSecondaryIndexes?: unknown[];
}
type Item = Record<string, unknown>;
type Callback = (error?: Error | null) => void;
interface BatchOp {
  type: "put" | "del";
  key: string;
  value?: unknown;
}
interface SubDb {
  put(key: string, value: unknown, cb: Callback): void;
  del(key: string, cb: Callback): void;
  atomic?: true;
}
interface Closable {
  close(): Promise<void>;
}
interface LevelDb {
  batch(ops: BatchOp[], cb: Callback): void;
  values(...args: unknown[]): Closable;
  keys(...args: unknown[]): Closable;
  iterator(...args: unknown[]): Closable;
}
interface Store {
  db: LevelDb;
  getItemDb(name: string): SubDb;
}
interface IndexAction {
  index: string;
  key: string;
  item?: Item;
}
interface DynaliteDb {
  create(options: unknown): Store;
  updateIndexes(store: Store, table: Table, existing: Item | null, item: Item | null, cb: Callback): void;
  getIndexActions(
    indexes: unknown[],
    existing: Item | null,
    item: Item | null,
    table: Table,
  ): { puts: IndexAction[]; deletes: IndexAction[] };
  createKey(item: Item, table: Table): string;
  atomicWrites?: true;
}

const require = createRequire(import.meta.url);

/** Index changes waiting for their item's write, per store, by `<table>\0<item key>`. */
const held = new WeakMap<Store, Map<string, BatchOp[]>>();
/** The iterators the current request opened. */
const opened = new AsyncSlot<Set<Closable>>();

/** Applies both fixes to dynalite's `db` module (once per process), before a dynalite is created. */
export function fixDynalite(): void {
  const db = require("dynalite/db") as DynaliteDb;
  if (db.atomicWrites) return;
  db.atomicWrites = true;
  const create = db.create;

  db.create = (options) => {
    const store = create(options);
    for (const method of ["values", "keys", "iterator"] as const) {
      const open = store.db[method].bind(store.db);
      store.db[method] = (...args: unknown[]) => {
        const iterator = open(...args);
        opened.getStore()?.add(iterator);
        return iterator;
      };
    }
    const pending = new Map<string, BatchOp[]>();
    held.set(store, pending);
    const getItemDb = store.getItemDb;
    store.getItemDb = (name) => {
      const items = getItemDb(name);
      if (items.atomic) return items;
      items.atomic = true;
      const put = items.put.bind(items);
      const del = items.del.bind(items);
      const withIndexes = (key: string, op: BatchOp, single: () => void, cb: Callback) => {
        const indexOps = pending.get(`${name}\0${key}`);
        if (!indexOps) return single();
        pending.delete(`${name}\0${key}`);
        store.db.batch([...indexOps, op], cb);
      };
      items.put = (key, value, cb) =>
        withIndexes(key, { type: "put", key: `item-${name}~${key}`, value }, () => put(key, value, cb), cb);
      items.del = (key, cb) => withIndexes(key, { type: "del", key: `item-${name}~${key}` }, () => del(key, cb), cb);
      return items;
    };
    return store;
  };

  db.updateIndexes = (store, table, existing, item, cb) => {
    const pending = held.get(store);
    const subject = item ?? existing;
    if (!pending || !subject) return cb();
    const deletes: BatchOp[] = [];
    const puts: BatchOp[] = [];
    for (const type of ["Local", "Global"] as const) {
      const indexes = table[`${type}SecondaryIndexes`] ?? [];
      const actions = db.getIndexActions(indexes, existing, item, table);
      const prefix = (index: string) => `index-${type.toLowerCase()}~${table.TableName}~${index}~`;
      for (const a of actions.deletes) deletes.push({ type: "del", key: prefix(a.index) + a.key });
      for (const a of actions.puts) puts.push({ type: "put", key: prefix(a.index) + a.key, value: a.item });
    }
    // Deletes before puts, as dynalite orders them: an entry whose key did not change is deleted, then put again.
    pending.set(`${table.TableName}\0${db.createKey(subject, table)}`, [...deletes, ...puts]);
    cb();
  };
}

/**
 * Runs each request of a dynalite server with a record of the iterators it opens, and closes them after it. Also
 * counts the requests still being answered, so a stop can let them finish before dynalite closes its database
 * (a request still running then throws "Database is closed" from a timer, outside any caller).
 */
export function trackRequests(server: Server): { drain(maxMs: number): Promise<void> } {
  const handlers = server.listeners("request") as Array<(...args: unknown[]) => void>;
  server.removeAllListeners("request");
  let inFlight = 0;
  let stopping = false;
  server.on("request", (req, res) => {
    if (stopping) {
      res.writeHead(503, { "content-type": "application/x-amz-json-1.0", connection: "close" });
      res.end(JSON.stringify({ __type: "com.amazonaws.dynamodb#ServiceUnavailableException", message: "stopping" }));
      return;
    }
    inFlight++;
    const iterators = new Set<Closable>();
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    let ended = false;
    res.end = ((...args: unknown[]) => {
      if (!ended) inFlight--;
      ended = true;
      return end(...args);
    }) as typeof res.end;
    res.once("close", () => {
      for (const iterator of iterators) iterator.close().catch(() => undefined);
    });
    // dynalite reads the body in the request's own events, which run outside this call: they get the record too.
    const emit = req.emit.bind(req) as (event: string | symbol, ...args: unknown[]) => boolean;
    req.emit = ((event: string | symbol, ...args: unknown[]) =>
      opened.run(iterators, () => emit(event, ...args))) as typeof req.emit;
    opened.run(iterators, () => {
      for (const handler of handlers) handler.call(server, req, res);
    });
  });
  return {
    async drain(maxMs) {
      stopping = true;
      const deadline = Date.now() + maxMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    },
  };
}
