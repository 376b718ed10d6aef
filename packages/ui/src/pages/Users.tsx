// SPDX-License-Identifier: Apache-2.0
// Users of the built-in identity (admins only: `GET /api/admin/users`).
import { ApiError } from '@nexodus/api/errors';
import { useAdminUsers } from '../api/hooks.js';
import { ErrorNote } from '../components/ErrorNote.js';

export function UsersPage() {
  const users = useAdminUsers();
  const forbidden = users.error instanceof ApiError && users.error.status === 403;
  return (
    <section aria-labelledby="users-h">
      <h1 id="users-h">Users</h1>
      {forbidden ? (
        <p>Only administrators see the list of users.</p>
      ) : (
        <>
          <ErrorNote error={users.error} />
          <table className="cards">
            <caption className="sr-only">Users</caption>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {(users.data ?? []).map((u) => (
                <tr key={u.id}>
                  <th scope="row" data-label="Username">
                    {u.username}
                  </th>
                  <td data-label="Role">{u.admin ? 'admin' : 'user'}</td>
                  <td data-label="Created">{new Date(u.created_at).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
