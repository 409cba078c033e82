{{/* Names, labels and the image reference shared by the kiln chart's templates. */}}
{{- define "kiln.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "kiln.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kiln.labels" -}}
{{ include "kiln.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kiln.variant" -}}
{{- if not (has .Values.variant (list "cpu" "gpu")) -}}
{{- fail (printf "variant must be cpu or gpu, got %q" .Values.variant) -}}
{{- end -}}
{{- .Values.variant -}}
{{- end -}}

{{- define "kiln.image" -}}
{{- $suffix := ternary "cuda13" "cpu" (eq (include "kiln.variant" .) "gpu") -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "%s-%s" .Chart.AppVersion $suffix) .Values.image.tag) -}}
{{- end -}}
