// SPDX-License-Identifier: Apache-2.0
// The certificates of a test control plane, made with the openssl CLI (node:crypto makes keys but not
// certificates): one CA that signs the API server's serving certificate and every client certificate
// (the API server trusts it through --client-ca-file, so the CN is the user and each O a group), and the
// service-account signing key pair. EC P-256 throughout: fast to make, and accepted by every component.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execHost } from '../exec.js';

export interface CertPair {
  cert: string;
  key: string;
}

export interface ControlPlanePki {
  ca: CertPair;
  apiserver: CertPair;
  /** CN admin, O system:masters: the tests' cluster-admin. */
  admin: CertPair;
  controllerManager: CertPair;
  scheduler: CertPair;
  /** Signs ServiceAccount tokens (kube-apiserver --service-account-signing-key-file). */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

const DAYS = '2';

async function ecKey(path: string): Promise<void> {
  await execHost('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    path,
  ]);
}

async function signed(
  dir: string,
  name: string,
  ca: CertPair,
  subject: string,
  extensions: string,
): Promise<CertPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await ecKey(pair.key);
  await writeFile(ext, extensions);
  await execHost('openssl', ['req', '-new', '-key', pair.key, '-subj', subject, '-out', csr]);
  await execHost('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    // A serial of our own: -CAcreateserial writes one ca.srl, which the parallel signings would race on.
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    DAYS,
    '-extfile',
    ext,
    '-out',
    pair.cert,
  ]);
  return pair;
}

const CLIENT_EXT = 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

/** Makes every certificate and key of one control plane in `dir`. */
export async function makeControlPlanePki(dir: string): Promise<ControlPlanePki> {
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await ecKey(ca.key);
  await execHost('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    ca.key,
    '-subj',
    '/CN=nexodus-test-ca',
    '-days',
    DAYS,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out',
    ca.cert,
  ]);
  const sans = [
    'IP:127.0.0.1',
    // The `kubernetes` Service's ClusterIP (the first of --service-cluster-ip-range): what Pods dial.
    'IP:10.0.0.1',
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ].join(',');
  const [apiserver, admin, controllerManager, scheduler] = await Promise.all([
    signed(
      dir,
      'apiserver',
      ca,
      '/CN=kube-apiserver',
      `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans}\n`,
    ),
    signed(dir, 'admin', ca, '/O=system:masters/CN=admin', CLIENT_EXT),
    // The bootstrap RBAC policy has roles for exactly these user names.
    signed(dir, 'controller-manager', ca, '/CN=system:kube-controller-manager', CLIENT_EXT),
    signed(dir, 'scheduler', ca, '/CN=system:kube-scheduler', CLIENT_EXT),
  ]);
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  await ecKey(serviceAccountKey);
  await execHost('openssl', ['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  return { ca, apiserver, admin, controllerManager, scheduler, serviceAccountKey, serviceAccountPub };
}
