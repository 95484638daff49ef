{{/* Names ---------------------------------------------------------------- */}}
{{- define "pdfrag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pdfrag.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The full name a dependency chart gives itself (standard helpers):
     (dict "name" CHART "values" ITS_VALUES "ctx" $) */}}
{{- define "pdfrag.subchartFullname" -}}
{{- $v := .values | default dict -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .name $v.nameOverride -}}
{{- if contains $name .ctx.Release.Name -}}
{{- .ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .ctx.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pdfrag.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "pdfrag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pdfrag
{{- end -}}

{{/* (dict "ctx" $ "component" NAME) */}}
{{- define "pdfrag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pdfrag.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pdfrag.configMapName" -}}{{ include "pdfrag.fullname" . }}-config{{- end -}}
{{- define "pdfrag.poolTemplatesName" -}}{{ include "pdfrag.fullname" . }}-work-pools{{- end -}}

{{- define "pdfrag.secretName" -}}
{{- default (printf "%s-secrets" (include "pdfrag.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "pdfrag.serviceAccountName" -}}
{{- default (include "pdfrag.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
{{- define "pdfrag.workerServiceAccountName" -}}
{{- default (printf "%s-worker" (include "pdfrag.fullname" .)) .Values.serviceAccount.workerName -}}
{{- end -}}

{{/* Images --------------------------------------------------------------- */}}
{{- define "pdfrag.image" -}}
{{- if or (not .Values.image.tag) (eq (toString .Values.image.tag) "latest") -}}
{{- fail "image.tag must be a pinned version, not empty or latest" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) -}}
{{- end -}}
{{- define "pdfrag.gpuImage" -}}
{{- if or (not .Values.gpuImage.tag) (eq (toString .Values.gpuImage.tag) "latest") -}}
{{- fail "gpuImage.tag must be a pinned version, not empty or latest" -}}
{{- end -}}
{{- printf "%s:%s" .Values.gpuImage.repository (toString .Values.gpuImage.tag) -}}
{{- end -}}

{{/* Endpoints: the bundled dependency when enabled, else the external one. */}}
{{- define "pdfrag.milvusUri" -}}
{{- if .Values.milvus.enabled -}}
{{- printf "http://%s:19530" (include "pdfrag.subchartFullname" (dict "name" "milvus" "values" .Values.milvus "ctx" .)) -}}
{{- else -}}
{{- required "endpoints.milvusUri is required (or set milvus.enabled=true)" .Values.endpoints.milvusUri -}}
{{- end -}}
{{- end -}}

{{- define "pdfrag.prefectApiUrl" -}}
{{- $ps := index .Values "prefect-server" | default dict -}}
{{- if $ps.enabled -}}
{{- printf "http://%s:4200/api" (include "pdfrag.subchartFullname" (dict "name" "prefect-server" "values" $ps "ctx" .)) -}}
{{- else -}}
{{- required "endpoints.prefectApiUrl is required (or set prefect-server.enabled=true)" .Values.endpoints.prefectApiUrl -}}
{{- end -}}
{{- end -}}

{{- define "pdfrag.s3EndpointUrl" -}}
{{- if and .Values.milvus.enabled .Values.endpoints.s3.useMilvusMinio -}}
{{- printf "http://%s:9000" (include "pdfrag.subchartFullname" (dict "name" "minio" "values" (.Values.milvus.minio | default dict) "ctx" .)) -}}
{{- else -}}
{{- .Values.endpoints.s3.endpointUrl -}}
{{- end -}}
{{- end -}}

{{- define "pdfrag.queryUrl" -}}
{{- printf "http://%s-query.%s.svc.cluster.local:%v" (include "pdfrag.fullname" .) .Release.Namespace .Values.query.service.port -}}
{{- end -}}

{{/* Every pdfrag container: settings from the ConfigMap, secrets from the Secret. */}}
{{- define "pdfrag.envFrom" -}}
- configMapRef:
    name: {{ include "pdfrag.configMapName" . }}
- secretRef:
    name: {{ include "pdfrag.secretName" . }}
{{- end -}}

{{/* A Prefect job-template placeholder, written literally: {{ name }} */}}
{{- define "pdfrag.ph" -}}
{{ printf "{{ %s }}" . }}
{{- end -}}

{{/* The base job template of a Kubernetes work pool, as YAML (the ConfigMap
     holds it as JSON). (dict "ctx" $ "pool" VALUES "gpu" BOOL) */}}
{{- define "pdfrag.baseJobTemplate" -}}
{{- $ctx := .ctx -}}
{{- $pool := .pool -}}
{{- $image := ternary (include "pdfrag.gpuImage" $ctx) (include "pdfrag.image" $ctx) .gpu -}}
{{- $pullPolicy := ternary $ctx.Values.gpuImage.pullPolicy $ctx.Values.image.pullPolicy .gpu -}}
job_configuration:
  command: {{ include "pdfrag.ph" "command" | quote }}
  env: {{ include "pdfrag.ph" "env" | quote }}
  labels: {{ include "pdfrag.ph" "labels" | quote }}
  name: {{ include "pdfrag.ph" "name" | quote }}
  namespace: {{ include "pdfrag.ph" "namespace" | quote }}
  stream_output: {{ include "pdfrag.ph" "stream_output" | quote }}
  pod_watch_timeout_seconds: {{ include "pdfrag.ph" "pod_watch_timeout_seconds" | quote }}
  job_manifest:
    apiVersion: batch/v1
    kind: Job
    metadata:
      generateName: {{ printf "%s-" (include "pdfrag.ph" "name") | quote }}
      labels: {{ include "pdfrag.ph" "labels" | quote }}
      namespace: {{ include "pdfrag.ph" "namespace" | quote }}
    spec:
      backoffLimit: 0
      ttlSecondsAfterFinished: {{ include "pdfrag.ph" "finished_job_ttl" | quote }}
      template:
        metadata:
          labels:
            {{- include "pdfrag.selectorLabels" (dict "ctx" $ctx "component" (printf "flow-run-%s" .name)) | nindent 12 }}
        spec:
          restartPolicy: Never
          serviceAccountName: {{ include "pdfrag.ph" "service_account_name" | quote }}
          automountServiceAccountToken: false
          securityContext:
            {{- toYaml $ctx.Values.podSecurityContext | nindent 12 }}
          {{- with $ctx.Values.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $pool.nodeSelector }}
          nodeSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $pool.tolerations }}
          tolerations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          containers:
            - name: prefect-job
              image: {{ include "pdfrag.ph" "image" | quote }}
              imagePullPolicy: {{ include "pdfrag.ph" "image_pull_policy" | quote }}
              args: {{ include "pdfrag.ph" "command" | quote }}
              env: {{ include "pdfrag.ph" "env" | quote }}
              envFrom:
                {{- include "pdfrag.envFrom" $ctx | nindent 16 }}
              securityContext:
                {{- toYaml $ctx.Values.containerSecurityContext | nindent 16 }}
              resources:
                requests:
                  cpu: {{ include "pdfrag.ph" "cpu_request" | quote }}
                  memory: {{ include "pdfrag.ph" "memory_request" | quote }}
                limits:
                  cpu: {{ include "pdfrag.ph" "cpu_limit" | quote }}
                  memory: {{ include "pdfrag.ph" "memory_limit" | quote }}
                  {{- if .gpu }}
                  nvidia.com/gpu: {{ $pool.gpuCount }}
                  {{- end }}
variables:
  type: object
  properties:
    name: {type: string, title: Name, description: Name given to the flow-run Job}
    env:
      type: object
      title: Environment variables
      additionalProperties: {type: string}
    labels:
      type: object
      title: Labels
      additionalProperties: {type: string}
    command: {type: string, title: Command, description: Command the flow-run container runs (set by the worker)}
    namespace: {type: string, title: Namespace, default: {{ $ctx.Release.Namespace | quote }}}
    image: {type: string, title: Image, default: {{ $image | quote }}}
    image_pull_policy: {type: string, title: Image pull policy, enum: [IfNotPresent, Always, Never], default: {{ $pullPolicy | quote }}}
    service_account_name: {type: string, title: Service account, default: {{ include "pdfrag.serviceAccountName" $ctx | quote }}}
    finished_job_ttl: {type: integer, title: Finished job TTL (s), default: {{ $ctx.Values.workers.finishedJobTtl }}}
    stream_output: {type: boolean, title: Stream output, default: true}
    pod_watch_timeout_seconds: {type: integer, title: Pod watch timeout (s), default: {{ $ctx.Values.workers.podWatchTimeoutSeconds }}}
    cpu_request: {type: string, title: CPU request, default: {{ $pool.jobResources.requests.cpu | quote }}}
    memory_request: {type: string, title: Memory request, default: {{ $pool.jobResources.requests.memory | quote }}}
    cpu_limit: {type: string, title: CPU limit, default: {{ $pool.jobResources.limits.cpu | quote }}}
    memory_limit: {type: string, title: Memory limit, default: {{ $pool.jobResources.limits.memory | quote }}}
{{- end -}}
