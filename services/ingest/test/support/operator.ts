/** The operator of the dashboard's ingest tests (`deps.operator`). */
export const testOperator = Object.freeze({ username: 'operator', password: 'correct horse battery staple' });
/** HTTP Basic headers of {@link testOperator}. */
export const operatorBasic = Object.freeze({ authorization: `Basic ${Buffer.from(`${testOperator.username}:${testOperator.password}`).toString('base64')}` });
/** What a browser sends asking for a page (the gate redirects those to the login). */
export const browserAccept = Object.freeze({ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
