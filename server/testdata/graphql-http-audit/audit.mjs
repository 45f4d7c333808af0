// Runs every graphql-http server audit (MUST, SHOULD and MAY) against a
// running server and exits non-zero when any of them fails.
//
//   node audit.mjs http://127.0.0.1:8080/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2] || process.env.GRAPHQL_URL;
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

const audits = serverAudits({ url });
let passed = 0;
let failed = 0;
for (const audit of audits) {
  const result = await audit.fn();
  if (result.status === 'ok') {
    passed++;
    console.log(`ok    ${result.id} ${result.name}`);
    continue;
  }
  failed++;
  console.log(`FAIL  ${result.id} ${result.name}: ${result.reason}`);
  if (result.response) {
    let body = '';
    try {
      body = await result.response.text();
    } catch {
      // the audit may have read it already
    }
    console.log(`      status ${result.response.status}, content-type ${result.response.headers.get('content-type')}${body ? `, body ${body.slice(0, 300)}` : ''}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
