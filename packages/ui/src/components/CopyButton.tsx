// SPDX-License-Identifier: Apache-2.0
// A button that copies `text` to the clipboard and says so (to screen readers too).
import { useState } from 'react';

export function CopyButton(props: { text: string; label: string }) {
  const [done, setDone] = useState<'copied' | 'failed' | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setDone('copied');
    } catch {
      setDone('failed');
    }
    setTimeout(() => setDone(undefined), 2000);
  };
  return (
    <>
      <button type="button" className="copy" onClick={copy} aria-label={props.label}>
        Copy
      </button>
      <span className="copy-status" aria-live="polite">
        {done === 'copied' ? 'Copied' : done === 'failed' ? 'Copy failed: select the text instead' : ''}
      </span>
    </>
  );
}
