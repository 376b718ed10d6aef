// SPDX-License-Identifier: Apache-2.0
// The web UI end to end in Debian's Chromium (playwright-core, no browser download): the real
// nexodus-server serving packages/ui's build, real `nexd proxy` processes, two users. The steps share one
// browser and run in order; each drives the page by role and label as a person would, writes a screenshot
// to test-output/ui/ and runs axe-core (WCAG 2.x A/AA) on the page it shows.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  NexdProcess,
  REPO,
  ServerProcess,
  stopAll,
  waitFor,
} from '../../packages/nexd/test/harness/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const UI_BUILD = join(REPO, 'packages/ui/dist/web/index.html');
const OUT = join(REPO, 'test-output/ui');
const PASSWORD = 'ui-e2e-password-1';
const NO_PASSWORD = { NEXD_USERNAME: '', NEXD_PASSWORD: '' };
/** Waits in the browser: the live stream and the redirects take well under this. */
const UI_TIMEOUT_MS = 20_000;

function skipReason(): string | undefined {
  const build = buildSkipReason();
  if (build) return build;
  if (!existsSync(UI_BUILD)) return `needs the UI build: ${UI_BUILD} is missing (run npm run build)`;
  if (!existsSync(CHROMIUM)) {
    const why = `needs Debian's chromium at ${CHROMIUM} (scripts/install-deps.sh installs it)`;
    if (process.env.CI) throw new Error(why);
    return why;
  }
  return undefined;
}
const skip = skipReason();

async function launch(): Promise<Browser> {
  // launch() gives every browser a fresh temporary profile (its own --user-data-dir).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Screenshot into test-output/ui and an axe-core run that must find no WCAG A/AA violation. */
async function checkPage(page: Page, name: string): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
    .analyze();
  const found = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
  assert.deepEqual(found, [], `axe-core on ${name}`);
}

async function signIn(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/devices`);
  await page.getByRole('heading', { name: 'Sign in to Nexodus' }).waitFor({ timeout: UI_TIMEOUT_MS });
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Devices', level: 1 }).waitFor({ timeout: UI_TIMEOUT_MS });
}

async function apiAs(base: string, username: string, password: string) {
  const oauth = new OAuthClient({ baseUrl: base });
  const tokens = await oauth.passwordGrant(username, password);
  await oauth.close();
  return new NexodusClient({ baseUrl: base, token: tokens.access_token });
}

describe('web UI in Chromium against a real server and real nexd proxies', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;
  let alice: BrowserContext;
  let page: Page;
  let aliceApi: NexodusClient;
  let a: NexdProcess;
  let b: NexdProcess;
  const visited: string[] = [];

  before(async () => {
    server = await ServerProcess.start();
    await server.addUser('alice', PASSWORD);
    await server.addUser('bob', PASSWORD);
    aliceApi = await apiAs(server.url, 'alice', PASSWORD);
    browser = await launch();
    alice = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await alice.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    alice.setDefaultTimeout(UI_TIMEOUT_MS);
    page = await alice.newPage();
    page.on('framenavigated', (f) => visited.push(f.url()));
  });

  after(async () => {
    await browser?.close();
    await aliceApi?.close();
    await stopAll();
  });

  test('sign-in page, then the devices page; no token in any URL, storage or script-readable cookie', async () => {
    await page.goto(`${server.url}/devices`);
    await page.getByRole('heading', { name: 'Sign in to Nexodus' }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match(page.url(), /\/oauth2\/authorize\?/);
    await checkPage(page, '01-sign-in');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'username or password is wrong' }).waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Devices', level: 1 }).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByText('Signed in as alice').waitFor();
    assert.ok(new URL(page.url()).pathname === '/devices');
    for (const u of visited) assert.doesNotMatch(u, /access_token|refresh_token|nxrt_/, u);
    // A string, evaluated in the page (this file is type-checked without the DOM library).
    const storage = (await page.evaluate(
      '({ local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage), cookie: document.cookie })',
    )) as { local: string; session: string; cookie: string };
    assert.equal(storage.local, '{}');
    assert.equal(storage.session, '{}');
    assert.equal(storage.cookie, '', 'the session cookie is HttpOnly');
    await page.getByText('No devices yet').waitFor();
  });

  test('a nexd proxy that registers appears without a reload, with its 100.100 address and nexlink export', async () => {
    a = await NexdProcess.start({
      tag: 'uia',
      env: { NEXD_USERNAME: 'alice', NEXD_PASSWORD: PASSWORD },
      args: ['proxy', '--ingress', 'tcp:8080:127.0.0.1:9', server.url],
    });
    const { ipv4, ipv6 } = a.addresses;
    assert.match(ipv4, /^100\.100\.\d+\.\d+$/);
    const row = page.getByRole('row').filter({ hasText: ipv4 });
    await row.waitFor({ timeout: UI_TIMEOUT_MS });
    await row.getByText(ipv6).waitFor();
    await row.getByText('Online').waitFor({ timeout: UI_TIMEOUT_MS });
    const [device] = (await aliceApi.listDevices()).filter((d) => d.ipv4_tunnel_ips[0]?.address === ipv4);
    assert.ok(device);
    await aliceApi.setDeviceMetadata(device.id, 'nexlink', {
      realm: 'east',
      services: [{ name: 'web', protocol: 'tcp', port: 8080 }],
    });
    await row.getByText('nexlink export web (tcp/8080), realm east').waitFor({ timeout: UI_TIMEOUT_MS });
    await checkPage(page, '02-devices');
  });

  test('the copy button puts the IPv4 address on the clipboard', async () => {
    const { ipv4 } = a.addresses;
    const row = page.getByRole('row').filter({ hasText: ipv4 });
    await row.getByRole('button', { name: /^Copy IPv4 address of / }).click();
    await row.getByText('Copied').waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), ipv4);
  });

  test('a phone-sized screen shows each device as a labelled card', async () => {
    const phone = await alice.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    // A new tab has no tokens (memory only): the session cookie signs it in without the password.
    await phone.goto(`${server.url}/devices`);
    await phone.getByRole('row').filter({ hasText: a.addresses.ipv4 }).waitFor({ timeout: UI_TIMEOUT_MS });
    const width = (await phone.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(width <= 390, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await checkPage(phone, '03-devices-phone');
    await phone.close();
  });

  test('a registration key shows its nexd command once; a second nexd registers with exactly that command', async () => {
    await page.getByRole('link', { name: 'Registration keys' }).click();
    await page.getByRole('heading', { name: 'Registration keys', level: 1 }).waitFor();
    await page.getByLabel('Expires in (hours)').fill('-3');
    await page.getByRole('button', { name: 'Create registration key' }).click();
    await page.getByText('Hours from now: a number above 0').waitFor();
    assert.equal(await page.getByLabel('Expires in (hours)').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Expires in (hours)').fill('2');
    await page.getByLabel('Description').fill('second proxy');
    await page.getByRole('button', { name: 'Create registration key' }).click();
    const command = (await page.locator('pre.command').textContent({ timeout: UI_TIMEOUT_MS }))?.trim() ?? '';
    await checkPage(page, '04-reg-keys');
    const m = /^nexd --service-url (\S+) --reg-key (\S+) proxy$/.exec(command);
    assert.ok(m, `command shape: ${command}`);
    assert.equal(m[1], server.url);
    b = await NexdProcess.start({
      tag: 'uib',
      env: NO_PASSWORD,
      globals: ['--service-url', m[1], '--reg-key', m[2]],
      args: ['proxy'],
    });
    await page.getByRole('button', { name: 'Done, hide the key' }).click();
    assert.equal(await page.locator('pre.command').count(), 0, 'the key is shown once');
    await page.getByText('second proxy', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Devices' }).click();
    await page.getByRole('row').filter({ hasText: b.addresses.ipv4 }).waitFor({ timeout: UI_TIMEOUT_MS });
  });

  test('device detail and the other pages render without accessibility violations', async () => {
    await page.getByRole('row').filter({ hasText: a.addresses.ipv4 }).getByRole('link').click();
    await page.getByRole('heading', { name: 'Metadata' }).waitFor();
    await page.getByText('"realm": "east"').waitFor();
    await checkPage(page, '05-device-detail');
    // Each page with the text that shows its data arrived (the watch stream keeps the network busy, so
    // "network idle" never comes).
    for (const [link, loaded, shot] of [
      ['VPCs', page.getByText('100.100.0.0/16').first(), '06-vpcs'],
      // The members list, or its error in words where the members route is not served.
      [
        'Organizations',
        page
          .locator('article')
          .getByText(/alice|cannot be listed/)
          .first(),
        '07-organizations',
      ],
      ['Invitations', page.getByRole('heading', { name: 'Invite someone' }), '08-invitations'],
      ['Users', page.getByText('Only administrators see the list of users.'), '09-users-not-admin'],
    ] as const) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { name: link, level: 1 }).waitFor();
      await loaded.waitFor();
      await checkPage(page, shot);
    }
  });

  test('the security group editor flags a bad rule at its field, then saves a good one', async () => {
    await page.getByRole('link', { name: 'Security groups' }).click();
    await page.getByRole('heading', { name: 'Security groups', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Add inbound rule' }).first().click();
    await page.getByLabel('First port (inbound rule 1)').fill('99999');
    await page.getByLabel('Addresses (inbound rule 1)').fill('100.100.0.0/16, 10.0.0.300');
    await page
      .getByRole('button', { name: /^Save / })
      .first()
      .click();
    await page.getByText('A port is a whole number from 0 to 65535.').waitFor();
    await page.getByText('Not an address, CIDR or range: 10.0.0.300').waitFor();
    await checkPage(page, '10-security-groups-errors');
    await page.getByLabel('First port (inbound rule 1)').fill('8080');
    await page.getByLabel('Last port (inbound rule 1)').fill('8081');
    await page.getByLabel('Addresses (inbound rule 1)').fill('100.100.0.0/16');
    await page
      .getByRole('button', { name: /^Save / })
      .first()
      .click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor({ timeout: UI_TIMEOUT_MS });
    const groups = await aliceApi.listSecurityGroups();
    const rule = groups.flatMap((g) => g.inbound_rules ?? []).find((r) => r.from_port === 8080);
    assert.deepEqual(rule, {
      ip_protocol: 'tcp',
      from_port: 8080,
      to_port: 8081,
      ip_ranges: ['100.100.0.0/16'],
    });
    await checkPage(page, '11-security-groups');
  });

  test('a nexd that stops turns grey (offline) without a reload', async () => {
    await page.getByRole('link', { name: 'Devices' }).click();
    const row = page.getByRole('row').filter({ hasText: b.addresses.ipv4 });
    await row.getByText('Online').waitFor({ timeout: UI_TIMEOUT_MS });
    await b.stop();
    await row.getByText(/^Offline/).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match((await row.getAttribute('class')) ?? '', /offline/);
  });

  test('deleting a device from its page makes it vanish from the list', async () => {
    const ipv4 = b.addresses.ipv4;
    await page.getByRole('row').filter({ hasText: ipv4 }).getByRole('link').click();
    await page.getByRole('button', { name: 'Delete device' }).click();
    await page.getByRole('button', { name: /^Yes, delete / }).click();
    await page.getByRole('heading', { name: 'Devices', level: 1 }).waitFor();
    await waitFor('the deleted row to vanish', async () =>
      (await page.getByRole('row').filter({ hasText: ipv4 }).count()) === 0 ? true : undefined,
    );
    assert.equal(await page.getByRole('row').filter({ hasText: a.addresses.ipv4 }).count(), 1);
  });

  test("another user never sees alice's devices, keys or groups, not even by URL", async () => {
    const bob = await browser.newContext();
    bob.setDefaultTimeout(UI_TIMEOUT_MS);
    const bp = await bob.newPage();
    try {
      await signIn(bp, server.url, 'bob', PASSWORD);
      await bp.getByText('No devices yet').waitFor({ timeout: UI_TIMEOUT_MS });
      assert.equal(await bp.getByText(a.addresses.ipv4).count(), 0);
      const [aliceDevice] = await aliceApi.listDevices();
      await bp.goto(`${server.url}/devices/${aliceDevice!.id}`);
      await bp.getByRole('heading', { name: 'Device not found' }).waitFor({ timeout: UI_TIMEOUT_MS });
      await bp.getByRole('link', { name: 'Registration keys' }).click();
      await bp.getByText('No registration keys.').waitFor();
      assert.equal(await bp.getByText('second proxy').count(), 0);
      await bp.getByRole('link', { name: 'Security groups' }).click();
      await bp.getByRole('heading', { name: 'Security groups', level: 1 }).waitFor();
      // Bob's own default group only: one editor, without alice's rule.
      await bp.getByRole('button', { name: 'Add inbound rule' }).waitFor();
      assert.equal(await bp.getByRole('button', { name: 'Add inbound rule' }).count(), 1);
      assert.equal(await bp.getByLabel('First port (inbound rule 1)').count(), 0);
    } finally {
      await bob.close();
    }
  });

  test('invitations: alice sends one in the UI, bob accepts it there and then sees her organization', async () => {
    const bobApi = await apiAs(server.url, 'bob', PASSWORD);
    const bobId = (await bobApi.getMe()).id;
    await bobApi.close();
    // The service has the original's /api/invitations routes: an unknown token is a 401, not a "no route" 404.
    const listed = await fetch(`${server.url}/api/invitations`, { headers: { authorization: 'Bearer x' } });
    assert.equal(listed.status, 401);
    const [org] = await aliceApi.listOrganizations();
    await page.getByRole('link', { name: 'Invitations' }).click();
    await page.getByLabel('User id or email').fill(bobId);
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByRole('status').filter({ hasText: 'Invitation sent.' }).waitFor();
    const bob = await browser.newContext();
    bob.setDefaultTimeout(UI_TIMEOUT_MS);
    const bp = await bob.newPage();
    try {
      await signIn(bp, server.url, 'bob', PASSWORD);
      await bp.getByRole('link', { name: 'Invitations' }).click();
      await bp.getByRole('button', { name: `Accept invitation to ${org!.name}` }).click();
      await bp.getByRole('link', { name: 'Organizations' }).click();
      await bp.getByRole('heading', { name: org!.name }).waitFor();
      await checkPage(bp, '15-organizations-after-invitation');
    } finally {
      await bob.close();
    }
  });

  test('an admin sees the users; sign-out ends the session (the next visit asks for the password)', async () => {
    const admin = await browser.newContext();
    admin.setDefaultTimeout(UI_TIMEOUT_MS);
    const ap = await admin.newPage();
    try {
      await signIn(ap, server.url, 'admin', ADMIN_PASSWORD);
      await ap.getByRole('link', { name: 'Users' }).click();
      await ap.getByRole('row').filter({ hasText: 'alice' }).waitFor({ timeout: UI_TIMEOUT_MS });
      await checkPage(ap, '12-users');
      // The device-login approval page (RFC 8628) shares the look and passes the same check.
      await ap.goto(`${server.url}/device?user_code=BCDF-GHJK`);
      await ap.getByRole('heading', { name: 'Connect a device to Nexodus' }).waitFor();
      await checkPage(ap, '14-device-approval');
      await ap.goto(`${server.url}/users`);
      await ap.getByRole('row').filter({ hasText: 'alice' }).waitFor({ timeout: UI_TIMEOUT_MS });
      await ap.getByRole('button', { name: 'Sign out' }).click();
      await ap.getByRole('heading', { name: 'You are signed out' }).waitFor();
      await checkPage(ap, '13-signed-out');
      await ap.goto(`${server.url}/devices`);
      await ap.getByRole('heading', { name: 'Sign in to Nexodus' }).waitFor({ timeout: UI_TIMEOUT_MS });
    } finally {
      await admin.close();
    }
  });
});
