/** An engine's read access to one snapshot's artifacts, decrypted and verified while they stream. */
import type { ArtifactReader } from "../kinds/contract.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";

export function snapshotReader(
  repository: Repository,
  manifest: SnapshotManifest,
  identities: readonly string[],
  /** Called with every error an artifact stream meets (damage found while an engine reads). */
  onStreamError?: (error: unknown) => void,
): ArtifactReader {
  return {
    snapshot: manifest,
    names: () => manifest.artifacts.map((a) => a.name).filter((name) => name !== FACTS_ARTIFACT),
    open: async (name, options) => {
      const stream = await repository.openArtifact(manifest, name, [...identities], options ?? {});
      if (onStreamError !== undefined) stream.on("error", onStreamError);
      return stream;
    },
  };
}
