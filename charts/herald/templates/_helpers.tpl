{{/* Names and labels shared by every template. */}}
{{- define "herald.fullname" -}}
{{- if contains "herald" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-herald" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "herald.operatorName" -}}{{ include "herald.fullname" . }}-operator{{- end -}}
{{- define "herald.metaName" -}}{{ include "herald.fullname" . }}-meta{{- end -}}
{{- define "herald.consoleName" -}}{{ include "herald.fullname" . }}-console{{- end -}}
{{- /* The console is served only where callers sign in with a token (docs/console.md). */ -}}
{{- define "herald.consoleOn" -}}{{ if and .Values.console.enabled .Values.security.authentication }}true{{ end }}{{- end -}}

{{- define "herald.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: herald
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "herald.operatorSelector" -}}
app.kubernetes.io/name: herald-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "herald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "herald.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "herald.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .repository $tag }}{{- else -}}{{ printf "%s:%s" .repository $tag }}{{- end -}}
{{- end -}}

{{- define "herald.mysqlSecretName" -}}
{{- if .Values.mysql.existingSecret -}}{{ .Values.mysql.existingSecret }}{{- else -}}{{ include "herald.fullname" . }}-mysql{{- end -}}
{{- end -}}

{{/* The restricted Pod Security profile, for every container of the chart. */}}
{{- define "herald.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
