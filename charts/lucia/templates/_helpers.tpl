{{/*
Shared names and labels. The object names match the kustomize base (kubernetes/base) when the
release is called "lucia", so both describe the same deployment.
*/}}

{{- define "lucia.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lucia.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lucia.labels" -}}
app.kubernetes.io/name: {{ include "lucia.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: lucia
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels; "component" keeps the AgentHost and Redis pods apart. */}}
{{- define "lucia.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lucia.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* image reference: repository@digest when a digest is given, else repository:tag. */}}
{{- define "lucia.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "lucia.redisName" -}}
{{- printf "%s-redis" (include "lucia.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lucia.redisSecretName" -}}
{{- .Values.redis.existingSecret | default (include "lucia.redisName" .) -}}
{{- end -}}

{{/* host:port the AgentHost connects to. */}}
{{- define "lucia.redisAddress" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s:6379" (include "lucia.redisName" .) -}}
{{- else -}}
{{- required "redis.enabled=false needs redis.externalUrl (host:port)" .Values.redis.externalUrl -}}
{{- end -}}
{{- end -}}

{{- define "lucia.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "lucia.fullname" .)) -}}
{{- end -}}
