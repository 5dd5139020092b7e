/**
 * The job output folders under an output location, as Bedrock writes them (docs/bedrock.md §2.1):
 * `<output>/<jobId>/<input file name>.out` for each input file and `manifest.json.out` beside them.
 * One owner for finding them; collect and the retry plan read through it.
 */
import { OUTPUT_MANIFEST } from '../bedrock/vocabulary.js';
import type { Store } from '../stores/store.js';

/** The last segment of a key. */
export function baseName(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? key : key.slice(i + 1);
}

/** One job's output folder: its data files and its manifest, if it has one. */
export interface OutputFolder {
  /** The folder's name: the job id (last segment of the job ARN). */
  jobId: string;
  /** Keys (in the output store) of its `.jsonl.out` files, in key order. */
  files: { key: string; size: number }[];
  /** Key of `manifest.json.out`, when present. */
  manifest?: string;
}

/**
 * The job folders under an output location: every `<jobId>/` that holds `.jsonl.out` files or a
 * manifest. `manifest.json.out` is never a data file. Data files directly at the location (it was
 * a job folder itself) form one folder named after the location's last segment.
 */
export async function findOutputFolders(store: Store): Promise<OutputFolder[]> {
  const folders = new Map<string, OutputFolder>();
  const root = rootName(store.uri);
  for await (const o of store.list('')) {
    const slash = o.key.indexOf('/');
    const jobId = slash < 0 ? root : o.key.slice(0, slash);
    const name = baseName(o.key);
    const isManifest = name === OUTPUT_MANIFEST;
    if (!isManifest && !name.endsWith('.jsonl.out')) continue;
    let f = folders.get(jobId);
    if (!f) folders.set(jobId, (f = { jobId, files: [] }));
    if (isManifest) {
      // only the folder's own manifest (not one nested deeper)
      if (o.key === (slash < 0 ? OUTPUT_MANIFEST : `${jobId}/${OUTPUT_MANIFEST}`)) f.manifest = o.key;
    } else {
      f.files.push({ key: o.key, size: o.size });
    }
  }
  return [...folders.values()].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
}

function rootName(uri: string): string {
  const trimmed = uri.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? trimmed : trimmed.slice(i + 1);
}
