// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WgConfigError } from '../src/errors.js';
import { generateKeyPair } from '../src/keys.js';
import { parseWgConfig, wgAddresses, wgPeers } from '../src/wg-config.js';

const A = generateKeyPair();
const B = generateKeyPair();
const C = generateKeyPair();

describe('parseWgConfig', () => {
  test('reads a full wg-quick file', () => {
    const cfg = parseWgConfig(`
# standalone proxy
[Interface]
PrivateKey = ${A.privateKey}
Address = 100.100.0.2/32, 200::2/64
address = 198.18.0.2
ListenPort = 51820
MTU = 1420
DNS = 1.1.1.1
PostUp = iptables -A FORWARD   # wg-quick only, ignored

[Peer]
PublicKey = ${B.publicKey}
PresharedKey = ${C.privateKey}
Endpoint = 198.18.0.1:51820
AllowedIPs = 100.100.0.1/32, 200::1/128
PersistentKeepalive = 25

[peer]
PublicKey = ${C.publicKey}
Endpoint = [fd00::1]:51821
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = off
`);
    assert.deepEqual(cfg.interface, {
      privateKey: A.privateKey,
      addresses: [
        { address: '100.100.0.2', prefix: 32, family: 4 },
        { address: '200::2', prefix: 64, family: 6 },
        { address: '198.18.0.2', prefix: 32, family: 4 },
      ],
      listenPort: 51820,
      mtu: 1420,
    });
    assert.deepEqual(cfg.peers, [
      {
        publicKey: B.publicKey,
        presharedKey: C.privateKey,
        endpoint: { host: '198.18.0.1', port: 51820 },
        allowedIps: [
          { address: '100.100.0.1', prefix: 32, family: 4 },
          { address: '200::1', prefix: 128, family: 6 },
        ],
        persistentKeepalive: 25,
      },
      {
        publicKey: C.publicKey,
        endpoint: { host: 'fd00::1', port: 51821 },
        allowedIps: [
          { address: '0.0.0.0', prefix: 0, family: 4 },
          { address: '::', prefix: 0, family: 6 },
        ],
      },
    ]);
  });

  test('a peer endpoint may be a DNS name', () => {
    const cfg = parseWgConfig(
      `[Interface]\nPrivateKey=${A.privateKey}\n[Peer]\nPublicKey=${B.publicKey}\nEndpoint=wg.example.com:51820\n`,
    );
    assert.deepEqual(cfg.peers[0].endpoint, { host: 'wg.example.com', port: 51820 });
  });

  const head = `[Interface]\nPrivateKey = ${A.privateKey}\n`;
  const peer = `[Peer]\nPublicKey = ${B.publicKey}\n`;
  const bad: [string, string, number, RegExp][] = [
    ['key before a section', `PrivateKey = ${A.privateKey}\n`, 1, /appears before any \[Interface\]/],
    ['no interface', peer, 1, /no \[Interface\] section/],
    ['no private key', '\n[Interface]\nListenPort = 1\n', 2, /has no PrivateKey/],
    ['two interfaces', `${head}[Interface]\n`, 3, /a second \[Interface\]/],
    ['unknown section', `${head}[Peers]\n`, 3, /unknown section \[Peers\]/],
    ['not key=value', `${head}Address 10.0.0.1\n`, 3, /expected Key = Value/],
    ['bad private key', '[Interface]\nPrivateKey = nope\n', 2, /PrivateKey must be 44 characters of base64/],
    ['bad address', `${head}Address = 10.0.0.300/32\n`, 3, /Address: "10.0.0.300" is not an IP address/],
    ['bad v4 prefix', `${head}Address = 10.0.0.1/33\n`, 3, /prefix length "33" must be 0-32/],
    ['bad v6 prefix', `${head}Address = fd00::1/129\n`, 3, /must be 0-128/],
    ['bad listen port', `${head}ListenPort = 70000\n`, 3, /ListenPort "70000" must be 0-65535/],
    ['small mtu', `${head}MTU = 500\n`, 3, /MTU "500" must be 1280-65535/],
    ['unknown interface key', `${head}Foo = 1\n`, 3, /unknown \[Interface\] key Foo/],
    ['peer without key', `${head}[Peer]\nAllowedIPs = 10.0.0.0/8\n`, 3, /\[Peer\] has no PublicKey/],
    ['duplicate peer', `${head}${peer}${peer}`, 5, /repeats the PublicKey of the peer on line 3/],
    ['endpoint without port', `${head}${peer}Endpoint = 10.0.0.1\n`, 5, /Endpoint "10.0.0.1" has no port/],
    ['unbracketed v6 endpoint', `${head}${peer}Endpoint = fd00::1:51820\n`, 5, /in brackets/],
    ['bad endpoint port', `${head}${peer}Endpoint = 10.0.0.1:0\n`, 5, /port "0" must be 1-65535/],
    ['bad keepalive', `${head}${peer}PersistentKeepalive = soon\n`, 5, /PersistentKeepalive "soon"/],
    ['unknown peer key', `${head}${peer}Weight = 3\n`, 5, /unknown \[Peer\] key Weight/],
  ];
  for (const [what, text, line, message] of bad) {
    test(`rejects ${what} with its line number`, () => {
      assert.throws(
        () => parseWgConfig(text, 'wg0.conf'),
        (err: unknown) => {
          assert.ok(err instanceof WgConfigError, String(err));
          assert.equal(err.code, 'NEX_ERR_WG_CONFIG');
          assert.equal(err.line, line);
          assert.match(err.message, new RegExp(`^wg0\\.conf:${line}: `));
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

test('wgAddresses and wgPeers give the standalone data plane its addresses and peers', () => {
  const cfg = parseWgConfig(
    `[Interface]\nPrivateKey=${A.privateKey}\nAddress=100.100.0.2/32,200::2/128\n` +
      `[Peer]\nPublicKey=${B.publicKey}\nEndpoint=[fd00::1]:51820\nAllowedIPs=100.100.0.1/32\nPersistentKeepalive=25\n` +
      `[Peer]\nPublicKey=${C.publicKey}\nAllowedIPs=100.100.0.3\n`,
  );
  assert.deepEqual(wgAddresses(cfg), { ipv4: ['100.100.0.2'], ipv6: ['200::2'] });
  assert.deepEqual(wgPeers(cfg), [
    {
      publicKey: B.publicKey,
      endpoint: '[fd00::1]:51820',
      allowedIps: ['100.100.0.1/32'],
      persistentKeepalive: 25,
    },
    { publicKey: C.publicKey, allowedIps: ['100.100.0.3/32'] },
  ]);
});
