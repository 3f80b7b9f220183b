/**
 * Where secrets come from. Production uses Google Secret Manager; tests pass a map.
 * The interface is deliberately one method wide so nothing else of the Google SDK leaks in.
 */
export interface SecretSource {
  /** The latest version's text, or undefined when the secret does not exist. */
  get(name: string): Promise<string | undefined>;
}

export class StaticSecrets implements SecretSource {
  constructor(private readonly values: Readonly<Record<string, string>>) {}
  get(name: string): Promise<string | undefined> {
    return Promise.resolve(this.values[name]);
  }
}

/** Google Secret Manager, loaded lazily so processes that never use it do not pay its import. */
export async function createGsmSecrets(projectId: string, credentialsJson?: string): Promise<SecretSource> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  const client = new SecretManagerServiceClient(
    credentialsJson ? { credentials: JSON.parse(credentialsJson) as Record<string, string> } : {},
  );
  return {
    async get(name: string) {
      const path = name.startsWith('projects/') ? name : `projects/${projectId}/secrets/${name.replaceAll('/', '_')}/versions/latest`;
      try {
        const [version] = await client.accessSecretVersion({ name: path });
        const data = version.payload?.data;
        if (data === undefined || data === null) return undefined;
        return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
      } catch (err) {
        if ((err as { code?: number }).code === 5) return undefined; // NOT_FOUND
        throw err;
      }
    },
  };
}
