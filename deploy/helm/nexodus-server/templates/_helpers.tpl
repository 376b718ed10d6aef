{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{- define "nexodus-server.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nexodus-server.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexodus-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "nexodus-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "nexodus-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexodus-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The render's guards: one place, included by the Deployment. */}}
{{- define "nexodus-server.validate" -}}
{{- $db := .Values.database.type -}}
{{- if not (has $db (list "sqlite" "postgres")) -}}
{{- fail (printf "database.type is %q; expected sqlite or postgres" $db) -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne $db "postgres") -}}
{{- fail (printf "replicaCount is %d but database.type is sqlite: SQLite is one file on one volume, so more than one replica needs database.type=postgres with database.postgres.urlSecret" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (eq $db "postgres") (not .Values.database.postgres.urlSecret) -}}
{{- fail "database.type is postgres but database.postgres.urlSecret is empty: name a Secret whose key database.postgres.urlKey holds postgres://user:password@host:5432/db" -}}
{{- end -}}
{{- end -}}
