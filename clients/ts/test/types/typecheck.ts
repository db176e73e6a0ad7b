// Type-level tests, compiled by `tsc --noEmit` in `npm test` (never run). Every `@ts-expect-error`
// line must fail to type-check; tsc reports an unused one as an error.
import { connect, MqttspecError, type Filter, type Notification } from '../../src/index.js';
import type { User, UserColumn, UserCreate } from './quickstart-types.js';

export async function typed(): Promise<void> {
  const client = await connect({ url: 'ws://127.0.0.1:8083/mqtt', clientId: 'types' });

  // Columns, operators and values are checked against the generated entity type.
  const page = await client.read<User>('users', {
    filters: [{ column: 'status', operator: 'eq', value: 'active' }],
    sort: [{ column: 'name', direction: 'asc' }],
    columns: ['name', 'email'],
    limit: 10,
  });
  const names: string[] = page.data.map((u) => u.name);
  const status: string | null | undefined = page.data[0]?.status;

  // @ts-expect-error -- a misspelt column name
  await client.read<User>('users', { filters: [{ column: 'stauts', operator: 'eq', value: 'active' }] });
  // @ts-expect-error -- a value of the wrong type for the column
  await client.read<User>('users', { filters: [{ column: 'id', operator: 'eq', value: 'seven' }] });
  // @ts-expect-error -- an unknown operator
  await client.read<User>('users', { filters: [{ column: 'id', operator: 'approx', value: 7 }] });
  // @ts-expect-error -- a misspelt sort column
  await client.read<User>('users', { sort: [{ column: 'nmae' }] });
  // @ts-expect-error -- a misspelt projection column
  await client.read<User>('users', { columns: ['emial'] });
  // Groups nest and are checked too.
  const group: Filter<User> = { or: [{ column: 'name', operator: 'contains', value: 'a' }, { column: 'status', operator: 'is_null' }] };
  // @ts-expect-error -- a misspelt column inside a group
  const badGroup: Filter<User> = { or: [{ column: 'nam', operator: 'contains', value: 'a' }] };
  await client.read<User>('users', { filters: [group, { column: 'id', operator: 'in', value: [1, 2, 3] }] });

  // Read one, create, update, delete.
  const one = await client.read<User>('users', 7);
  const id: number = one.data.id;
  const made: User = await client.create<User, UserCreate>('users', { name: 'Ann', email: 'ann@example.org' });
  const batch: User[] = await client.create<User, UserCreate>('users', [{ name: 'A', email: 'a@x' }, { name: 'B', email: 'b@x', status: null }]);
  // @ts-expect-error -- a required column is missing
  await client.create<User, UserCreate>('users', { name: 'Ann' });
  // @ts-expect-error -- the generated key cannot be chosen
  await client.create<User, UserCreate>('users', { id: 1, name: 'Ann', email: 'a@x' });
  const changed: User = await client.update<User>('users', made.id, { status: 'active' });
  // @ts-expect-error -- an unknown column in a patch
  await client.update<User>('users', made.id, { stauts: 'active' });
  const gone = await client.delete('users', made.id);
  const deleted: boolean = gone.deleted;

  // Without a type, rows are plain records and any column name is accepted.
  const loose = await client.read('users', { filters: [{ column: 'anything', operator: 'eq', value: 1 }] });
  const unknownValue: unknown = loose.data[0]?.anything;

  // Subscriptions hand typed notifications.
  const sub = await client.subscribe<User>('users', { filters: [{ column: 'status', operator: 'eq', value: 'active' }] }, (n: Notification<User>) => {
    const scope: 'enter' | 'stay' | 'leave' = n.scope;
    const email: string = n.data.email;
    void scope, email;
  });
  // @ts-expect-error -- a misspelt column in a subscription filter
  await client.subscribe<User>('users', { filters: [{ column: 'stauts', operator: 'eq', value: 'x' }] }, () => {});
  const lastSeq: number = sub.lastSeq;
  await sub.unsubscribe();

  // Errors carry the protocol's code.
  try {
    await client.read<User>('users', 999);
  } catch (e) {
    if (e instanceof MqttspecError && e.code === 'not_found') console.log(e.message, e.details);
  }
  const column: UserColumn = 'email';
  // @ts-expect-error -- not a column of users
  const notColumn: UserColumn = 'password';
  const meta = await client.meta('users');
  const metaNames: string[] = meta.columns.map((c) => c.name);
  client.on('resync', (ev) => console.log(ev.previousId, ev.newId, ev.lastSeq));
  // @ts-expect-error -- no such event
  client.on('resynced', () => {});
  void names, status, badGroup, id, batch, changed, deleted, unknownValue, lastSeq, column, notColumn, metaNames;
  await client.close();
}
