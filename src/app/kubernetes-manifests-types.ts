/**
 * The Kubernetes objects `backdrill cron --kubernetes` writes, typed as far as it fills them (the
 * test validates them against the full schema of kubernetes-models). Plain data: no client
 * library is needed to print YAML.
 */

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string; optional?: boolean } };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: "Memory"; sizeLimit?: string };
  configMap?: { name: string; items: { key: string; path: string }[]; defaultMode: number };
  secret?: { secretName: string; items: { key: string; path: string }[]; defaultMode: number };
  persistentVolumeClaim?: { claimName: string };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  env: EnvVar[];
  volumeMounts: VolumeMount[];
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  securityContext: {
    allowPrivilegeEscalation: false;
    readOnlyRootFilesystem: true;
    capabilities: { drop: string[] };
  };
}

export interface PodSpec {
  restartPolicy: "Never" | "OnFailure" | "Always";
  securityContext: {
    runAsNonRoot: true;
    runAsUser: number;
    runAsGroup: number;
    fsGroup: number;
    seccompProfile: { type: "RuntimeDefault" };
  };
  automountServiceAccountToken: false;
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
}

export interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

export interface ConfigMapObject {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: ObjectMeta;
  data: Record<string, string>;
}

export interface CronJobObject {
  apiVersion: "batch/v1";
  kind: "CronJob";
  metadata: ObjectMeta;
  spec: {
    schedule: string;
    timeZone?: string;
    concurrencyPolicy: "Forbid";
    startingDeadlineSeconds: number;
    successfulJobsHistoryLimit: number;
    failedJobsHistoryLimit: number;
    jobTemplate: {
      metadata: { labels: Record<string, string> };
      spec: { backoffLimit: number; template: PodTemplate };
    };
  };
}

export interface DeploymentObject {
  apiVersion: "apps/v1";
  kind: "Deployment";
  metadata: ObjectMeta;
  spec: {
    replicas: 1;
    strategy: { type: "Recreate" };
    selector: { matchLabels: Record<string, string> };
    template: PodTemplate;
  };
}

export type KubernetesObject = ConfigMapObject | CronJobObject | DeploymentObject;
