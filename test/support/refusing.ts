/** An HTTP endpoint on 127.0.0.1 that refuses every request with AccessDeniedException, as AWS does without permission, and records who asked. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RefusingEndpoint {
  endpoint: string;
  /** The headers of every request (to check which credentials reached it). */
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/**
 * `protocol`: `rest-json` answers 403 `{"message"}` with `x-amzn-ErrorType` (Bedrock, S3-style JSON APIs);
 * `aws-json` answers 400 `{"__type","message"}` as an awsJson1_1 service (Service Quotas) does.
 */
export async function refusingEndpoint(protocol: 'rest-json' | 'aws-json', message: string): Promise<RefusingEndpoint> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const json = protocol === 'aws-json';
      const body = JSON.stringify(json ? { __type: 'AccessDeniedException', message } : { message });
      res.writeHead(json ? 400 : 403, {
        'content-type': json ? 'application/x-amz-json-1.1' : 'application/json',
        'x-amzn-ErrorType': 'AccessDeniedException',
        'x-amzn-RequestId': 'refusing',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
