// SPDX-License-Identifier: Apache-2.0
// Vitest setup: unmount what each test rendered; generous waits, since `npm test` runs these beside the
// browser suite on a loaded machine (waits end as soon as their condition holds).
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

configure({ asyncUtilTimeout: 10_000 });

afterEach(() => cleanup());
