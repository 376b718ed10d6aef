// SPDX-License-Identifier: Apache-2.0
// Hands the one UiApi and the Session to the hooks.
import { createContext, type ReactNode, useContext } from 'react';
import type { Session } from '../auth/session.js';
import type { UiApi } from './client.js';

interface Services {
  api: UiApi;
  session: Session;
}

const ServicesContext = createContext<Services | undefined>(undefined);

export function ServicesProvider(props: Services & { children: ReactNode }) {
  return (
    <ServicesContext.Provider value={{ api: props.api, session: props.session }}>
      {props.children}
    </ServicesContext.Provider>
  );
}

export function useServices(): Services {
  const s = useContext(ServicesContext);
  if (!s) throw new Error('useServices outside ServicesProvider');
  return s;
}

export const useApi = (): UiApi => useServices().api;
