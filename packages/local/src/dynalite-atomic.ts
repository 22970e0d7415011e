import { createRequire } from "node:module";

/**
 * dynalite writes an item and its secondary-index entries as separate LevelDB writes: index deletes, then index
 * puts, then the item. A process killed between them (kill -9, a crash, a power cut of the laptop) leaves an item
 * missing from an index, or an index entry for a state the item never reached: a task that no listing, and so no
 * recovery, can find again. DynamoDB applies an item and its indexes as one change.
 *
 * This makes dynalite do the same: the index changes of a put, update or delete are held back and written in one
 * LevelDB batch with the item itself. It reaches into dynalite's internals (its `db` module and key layout, as of
 * the locked version 4.0.0), so `startDynamo` applies it, and the local runtime's kill drills test it.
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
interface Store {
  db: { batch(ops: BatchOp[], cb: Callback): void };
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

export function makeDynaliteAtomic(): void {
  const db = require("dynalite/db") as DynaliteDb;
  if (db.atomicWrites) return;
  db.atomicWrites = true;
  const create = db.create;

  db.create = (options) => {
    const store = create(options);
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
