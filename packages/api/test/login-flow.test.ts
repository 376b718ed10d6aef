// SPDX-License-Identifier: Apache-2.0
// The original clients' service URL -> API URL rule (the `api.` prefix) and our fallback for hosts without
// an `api.` twin.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiUrlFor, resolveApiUrl } from '@nexodus/api';

describe('apiUrlFor / resolveApiUrl', () => {
  it('prefixes the host with api., keeps IP literals, localhost, port and path', () => {
    assert.equal(apiUrlFor('https://try.nexodus.io'), 'https://api.try.nexodus.io');
    assert.equal(apiUrlFor('https://try.nexodus.io/'), 'https://api.try.nexodus.io');
    assert.equal(apiUrlFor('https://example.com:8443/prefix/'), 'https://api.example.com:8443/prefix');
    assert.equal(apiUrlFor('https://127.0.0.1:8443'), 'https://127.0.0.1:8443');
    assert.equal(apiUrlFor('https://[::1]:8443'), 'https://[::1]:8443');
    assert.equal(apiUrlFor('http://localhost:8080'), 'http://localhost:8080');
    assert.equal(apiUrlFor('https://try.nexodus.io#RK-key'), 'https://api.try.nexodus.io');
    // Unlike the original (api.api.HOST): a host already starting with api. is the API.
    assert.equal(apiUrlFor('https://api.example.com'), 'https://api.example.com');
  });

  it('resolveApiUrl: api.HOST when it resolves, the URL as given when the name does not exist', async () => {
    const asked: string[] = [];
    const ok = async (h: string) => {
      asked.push(h);
    };
    assert.equal(await resolveApiUrl('https://nexodus.example', ok), 'https://api.nexodus.example');
    assert.deepEqual(asked, ['api.nexodus.example']);
    const missing = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    assert.equal(
      await resolveApiUrl('https://nexodus-server.nexodus.svc.cluster.local', missing),
      'https://nexodus-server.nexodus.svc.cluster.local',
    );
    // A failing resolver (not "no such name"): HOST when it resolves (i.e. from /etc/hosts), else api.HOST.
    const broken = async () => {
      throw Object.assign(new Error('EAI_AGAIN'), { code: 'EAI_AGAIN' });
    };
    assert.equal(await resolveApiUrl('https://nexodus.example', broken), 'https://api.nexodus.example');
    const hostsOnly = async (h: string) => {
      if (h.startsWith('api.')) throw Object.assign(new Error('EAI_AGAIN'), { code: 'EAI_AGAIN' });
    };
    assert.equal(await resolveApiUrl('https://server.lab', hostsOnly), 'https://server.lab');
    // IP literals never ask DNS.
    assert.equal(await resolveApiUrl('https://10.0.0.1:8443', missing), 'https://10.0.0.1:8443');
  });
});
