// The README's "From a browser or Node" example, type-checked by `npm test` (test:types) so it keeps compiling.
import { connect } from '../../src/index.js';
import type { User } from './quickstart-types.js';

export async function example(): Promise<void> {
  const client = await connect({ url: 'ws://127.0.0.1:8083/mqtt', clientId: 'alice' });
  const ann = await client.create<User>('users', { name: 'Ann', email: 'ann@example.org', status: 'active' });
  const active = { filters: [{ column: 'status', operator: 'eq', value: 'active' }] } as const;
  const { data } = await client.read<User>('users', { ...active, limit: 10 });
  await client.subscribe<User>('users', active, ({ operation, scope, seq, data }) => console.log(seq, operation, scope, data));
  client.on('resync', () => { /* more was missed than the server's log holds: read again */ });
  await client.update<User>('users', ann.id, { status: 'away' });
  console.log(data);
}
