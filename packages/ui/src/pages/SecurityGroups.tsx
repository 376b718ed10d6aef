// SPDX-License-Identifier: Apache-2.0
// Security groups: one editor per group with inbound and outbound rules, validated per field.
import type { SecurityGroup } from '@nexodus/api/schemas';
import { useState } from 'react';
import { useSecurityGroups, useUpdateSecurityGroup, useVpcs } from '../api/hooks.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Field } from '../components/Field.js';
import {
  EMPTY_RULE,
  hasErrors,
  PROTOCOLS,
  type RuleDraft,
  type RuleErrors,
  toDraft,
  toRule,
  validateRule,
} from '../forms/security-rules.js';

type Direction = 'inbound' | 'outbound';

function RuleRows(props: {
  direction: Direction;
  rules: RuleDraft[];
  errors: RuleErrors[] | undefined;
  onChange: (rules: RuleDraft[]) => void;
}) {
  const set = (i: number, patch: Partial<RuleDraft>) =>
    props.onChange(props.rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const title = props.direction === 'inbound' ? 'Inbound rules' : 'Outbound rules';
  return (
    <fieldset>
      <legend>{title}</legend>
      {props.rules.length === 0 && <p>No rules: all {props.direction} traffic is allowed.</p>}
      {props.rules.map((r, i) => {
        const e = props.errors?.[i] ?? {};
        const n = `${props.direction} rule ${i + 1}`;
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rules have no identity besides their position
          <fieldset className="rule" key={i}>
            <legend className="sr-only">{n}</legend>
            <Field
              label={
                <>
                  Protocol<span className="sr-only"> ({n})</span>
                </>
              }
              error={e.ip_protocol}
            >
              <select value={r.ip_protocol} onChange={(ev) => set(i, { ip_protocol: ev.target.value })}>
                {PROTOCOLS.map((p) => (
                  <option key={p} value={p}>
                    {p}
                  </option>
                ))}
              </select>
            </Field>
            <Field
              label={
                <>
                  First port<span className="sr-only"> ({n})</span>
                </>
              }
              error={e.from_port}
            >
              <input
                inputMode="numeric"
                value={r.from_port}
                onChange={(ev) => set(i, { from_port: ev.target.value })}
              />
            </Field>
            <Field
              label={
                <>
                  Last port<span className="sr-only"> ({n})</span>
                </>
              }
              error={e.to_port}
            >
              <input
                inputMode="numeric"
                value={r.to_port}
                onChange={(ev) => set(i, { to_port: ev.target.value })}
              />
            </Field>
            <Field
              label={
                <>
                  Addresses<span className="sr-only"> ({n})</span>
                </>
              }
              error={e.ip_ranges}
              hint="CIDRs, addresses or ranges; empty means any"
            >
              <input value={r.ip_ranges} onChange={(ev) => set(i, { ip_ranges: ev.target.value })} />
            </Field>
            <button type="button" onClick={() => props.onChange(props.rules.filter((_, j) => j !== i))}>
              Remove {n}
            </button>
          </fieldset>
        );
      })}
      <button type="button" onClick={() => props.onChange([...props.rules, { ...EMPTY_RULE }])}>
        Add {props.direction} rule
      </button>
    </fieldset>
  );
}

export function GroupEditor(props: { group: SecurityGroup; vpcName: string }) {
  const g = props.group;
  const update = useUpdateSecurityGroup();
  const [description, setDescription] = useState(g.description);
  const [rules, setRules] = useState<Record<Direction, RuleDraft[]>>({
    inbound: (g.inbound_rules ?? []).map(toDraft),
    outbound: (g.outbound_rules ?? []).map(toDraft),
  });
  const [errors, setErrors] = useState<Record<Direction, RuleErrors[]> | undefined>();
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const found = { inbound: rules.inbound.map(validateRule), outbound: rules.outbound.map(validateRule) };
    setErrors(found);
    if ([...found.inbound, ...found.outbound].some(hasErrors)) return;
    update.mutate({
      id: g.id,
      body: {
        description,
        inbound_rules: rules.inbound.map(toRule),
        outbound_rules: rules.outbound.map(toRule),
      },
    });
  };
  const headingId = `sg-${g.id}`;
  return (
    <form className="card" onSubmit={submit} aria-labelledby={headingId} noValidate>
      <h2 id={headingId}>
        {g.description || 'Security group'} <small>in {props.vpcName}</small>
      </h2>
      <Field label="Description">
        <input value={description} maxLength={256} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <RuleRows
        direction="inbound"
        rules={rules.inbound}
        errors={errors?.inbound}
        onChange={(inbound) => setRules({ ...rules, inbound })}
      />
      <RuleRows
        direction="outbound"
        rules={rules.outbound}
        errors={errors?.outbound}
        onChange={(outbound) => setRules({ ...rules, outbound })}
      />
      <button type="submit" disabled={update.isPending}>
        Save {g.description || 'security group'}
      </button>
      {errors && [...errors.inbound, ...errors.outbound].some(hasErrors) && (
        <p className="error" role="alert">
          Some rules need fixing; see the messages next to the fields.
        </p>
      )}
      {update.isSuccess && !update.isPending && <p role="status">Saved.</p>}
      <ErrorNote error={update.error} />
    </form>
  );
}

export function SecurityGroupsPage() {
  const groups = useSecurityGroups();
  const vpcs = useVpcs();
  const name = (id: string) => vpcs.data?.find((v) => v.id === id)?.description || id;
  return (
    <section aria-labelledby="sg-h">
      <h1 id="sg-h">Security groups</h1>
      <p>Rules decide which traffic a device accepts and sends inside its VPC.</p>
      <ErrorNote error={groups.error} />
      {groups.isPending && <p>Loading…</p>}
      {(groups.data ?? []).map((g) => (
        <GroupEditor key={g.id} group={g} vpcName={name(g.vpc_id)} />
      ))}
    </section>
  );
}
