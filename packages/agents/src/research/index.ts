export { type ArtifactStore, artifactStoreFromConfig, fileArtifactStore, s3ArtifactStore } from "./artifacts.js";
export { createResearchAgent, type ResearchOptions, research } from "./handlers.js";
export { researchSpec } from "./spec.js";
export { blockedReason, checkTarget, parseAllowList, type Resolver, SsrfBlockedError } from "./ssrf.js";
