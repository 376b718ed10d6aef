{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{- define "nexd-proxy.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nexd-proxy.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexd-proxy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "nexd-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "nexd-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexd-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nexd-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "nexd-proxy.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A rule is protocol:port:host:port; host may be [v6]. Fails the render on anything else. */}}
{{- define "nexd-proxy.checkRule" -}}
{{- if not (regexMatch "^(tcp|udp):[0-9]{1,5}:(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$" .rule) -}}
{{- fail (printf "%s rule %q is not protocol:port:host:port (i.e. tcp:80:nginx.default.svc.cluster.local:80)" .kind .rule) -}}
{{- end -}}
{{- end -}}
