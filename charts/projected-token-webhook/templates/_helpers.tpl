{{/* Names: the release name when it contains the chart's name (the default install), else release-chart. */}}
{{- define "ptw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ptw.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Every object's labels: the base's app.kubernetes.io/name plus Helm's own. */}}
{{- define "ptw.labels" -}}
app.kubernetes.io/name: {{ include "ptw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The webhook pods' labels, as the base selects them. */}}
{{- define "ptw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ptw.name" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "ptw.tlsSecretName" -}}
{{- if and (eq .Values.certificates.mode "secret") .Values.certificates.secret.name }}
{{- .Values.certificates.secret.name }}
{{- else }}
{{- include "ptw.fullname" . }}-tls
{{- end }}
{{- end }}

{{/* The namespaces never sent to the webhook: the configured ones and the release's own. */}}
{{- define "ptw.excludedNamespaces" -}}
{{- uniq (append .Values.excludedNamespaces .Release.Namespace) | join "," }}
{{- end }}

{{/* The names the kube-apiserver (and in-cluster clients) may dial. */}}
{{- define "ptw.dnsNames" -}}
{{- $svc := include "ptw.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{- define "ptw.requireMetrics" -}}
{{- if not .Values.metrics.enabled }}
{{- fail "metrics.serviceMonitor and metrics.podMonitor need metrics.enabled: they scrape the plain-HTTP metrics port" }}
{{- end }}
{{- end }}
