// SPDX-License-Identifier: Apache-2.0
// The frame of every signed-in page: skip link, navigation, the signed-in user, sign-out, live updates.
import { NavLink, Outlet, useNavigate } from 'react-router';
import { useServices } from '../api/context.js';
import { useMe } from '../api/hooks.js';
import { useLiveUpdates } from '../api/live.js';

const NAV: Array<[string, string]> = [
  ['/devices', 'Devices'],
  ['/vpcs', 'VPCs'],
  ['/organizations', 'Organizations'],
  ['/invitations', 'Invitations'],
  ['/reg-keys', 'Registration keys'],
  ['/security-groups', 'Security groups'],
  ['/users', 'Users'],
];

export function Layout() {
  const { session } = useServices();
  const me = useMe();
  const navigate = useNavigate();
  useLiveUpdates();
  const signOut = async () => {
    await session.signOut();
    navigate('/signed-out');
  };
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Nexodus</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <NavLink to={to}>{label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="me">
          <span>{me.data ? `Signed in as ${me.data.username}` : ''}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
