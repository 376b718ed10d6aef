// SPDX-License-Identifier: Apache-2.0
// The route table. Keep the paths in step with UI_ROUTES in packages/server/src/ui-hosting.ts, which
// answers index.html for each of them.
import { Navigate, type RouteObject } from 'react-router';
import { Layout } from './components/Layout.js';
import { CallbackPage, RequireSignIn, SignedOutPage } from './pages/Auth.js';
import { DeviceDetailPage } from './pages/DeviceDetail.js';
import { DevicesPage } from './pages/Devices.js';
import { InvitationsPage } from './pages/Invitations.js';
import { OrganizationsPage } from './pages/Organizations.js';
import { RegKeysPage } from './pages/RegKeys.js';
import { SecurityGroupsPage } from './pages/SecurityGroups.js';
import { UsersPage } from './pages/Users.js';
import { VpcsPage } from './pages/Vpcs.js';

export const routes: RouteObject[] = [
  { path: '/callback', element: <CallbackPage /> },
  { path: '/signed-out', element: <SignedOutPage /> },
  {
    element: (
      <RequireSignIn>
        <Layout />
      </RequireSignIn>
    ),
    children: [
      { path: '/', element: <Navigate to="/devices" replace /> },
      { path: '/devices', element: <DevicesPage /> },
      { path: '/devices/:id', element: <DeviceDetailPage /> },
      { path: '/vpcs', element: <VpcsPage /> },
      { path: '/organizations', element: <OrganizationsPage /> },
      { path: '/invitations', element: <InvitationsPage /> },
      { path: '/reg-keys', element: <RegKeysPage /> },
      { path: '/security-groups', element: <SecurityGroupsPage /> },
      { path: '/users', element: <UsersPage /> },
    ],
  },
];
