// SPDX-License-Identifier: Apache-2.0
// Vitest setup: unmount what each test rendered.
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());
