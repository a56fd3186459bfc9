import t, { type Test } from 'tap';

import { createAnswers } from '../sql/queries/qa.js';
import { expectBody, expectError, serveFixture as serveApi, type Api } from './helpers/api.js';
import { directPool } from './helpers/database.js';

/**
 * Product 1's questions, inserted out of id order, ordered by helpfulness then id: q3 (8), q7 (8,
 * a later id), q5 (7), q4 (6), q1 (1). q2 and q6 are reported (q6 carries the most votes); they
 * must never show. q3 has answers a5 (2 votes, two photos inserted out of order), a8 (8 votes, no
 * photo), a10 (2 votes, a later id than a5) and a9, reported, with the most votes and a photo.
 * q5 has no answers. Product 2 has one question; product 3 has none; product 99 does not exist.
 * Texts need JSON escaping; a10's date has a round millisecond. Sequences continue after the
 * loaded ids, as the ingest leaves them.
 */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in to your crowd', 'The So Fatigues', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'Wear shades', 'Dark lenses', 'Accessories', 69),
  (3, 'Morning Joggers', 'Mornings', 'Joggers', 'Pants', 40);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (5, 1, 'Can I wash it?', '2020-12-25T00:14:44.662Z', 'cleopatra', 'c@example.com', false, 7),
  (1, 1, 'What fabric is the top made of?', '2020-07-27T21:18:34.409Z', 'yankeelover', 'y@example.com', false, 1),
  (3, 1, E'Does this run "big" or small?\\nAsking for a friend', '2020-12-21T07:31:47.083Z', 'jbilas', 'j@example.com', false, 8),
  (2, 1, 'HEY THIS IS A WEIRD QUESTION!!!!?', '2021-02-21T06:16:59.613Z', 'jbilas', 'j@example.com', true, 4),
  (4, 1, 'How long does it last?', '2020-07-10T00:35:17.010Z', 'funnygirl', 'f@example.com', false, 6),
  (6, 1, 'Is it noise cancelling?', '2020-12-25T00:14:44.662Z', 'coolkid', 'k@example.com', true, 19),
  (7, 1, 'Naïve question: café?', '2021-01-01T00:00:00.001Z', 'coolkid', 'k@example.com', false, 8),
  (8, 2, 'Where is this product made?', '2020-05-25T17:54:33.460Z', 'iluvcatz', 'i@example.com', false, 0);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (10, 3, 'Small', '2021-01-06T00:00:00.500Z', 'tiny', 't@example.com', false, 2),
  (5, 3, 'Runs "true" to size', '2021-01-05T10:00:00.000Z', 'sillyguy', 's@example.com', false, 2),
  (8, 3, 'Slightly big', '2020-12-30T08:00:00.123Z', 'bigfan', 'b@example.com', false, 8),
  (9, 3, 'Buy followers', '2021-01-07T00:00:00.000Z', 'spammer', 'x@example.com', true, 50),
  (11, 4, 'Years', '2020-08-01T12:00:00.000Z', 'oldtimer', 'o@example.com', false, 0),
  (12, 8, 'Italy', '2020-06-01T12:00:00.000Z', 'maker', 'm@example.com', false, 1);
INSERT INTO answers_photos (id, answer_id, url) VALUES
  (2, 5, 'https://img.example/a5b'), (1, 5, 'https://img.example/a5a'), (3, 10, 'https://img.example/a10'),
  (4, 9, 'https://img.example/a9');
SELECT setval(pg_get_serial_sequence('questions', 'id'), 8);
SELECT setval(pg_get_serial_sequence('answers', 'id'), 12);
SELECT setval(pg_get_serial_sequence('answers_photos', 'id'), 4);
`;

/** An answer inside /qa/questions (photos as URL strings), without its key. */
const ANSWER: Record<number, string> = {
  5:
    '{"id":5,"body":"Runs \\"true\\" to size","date":"2021-01-05T10:00:00.000Z","answerer_name":"sillyguy","helpfulness":2,' +
    '"photos":["https://img.example/a5a","https://img.example/a5b"]}',
  8: '{"id":8,"body":"Slightly big","date":"2020-12-30T08:00:00.123Z","answerer_name":"bigfan","helpfulness":8,"photos":[]}',
  10:
    '{"id":10,"body":"Small","date":"2021-01-06T00:00:00.500Z","answerer_name":"tiny","helpfulness":2,' +
    '"photos":["https://img.example/a10"]}',
  11: '{"id":11,"body":"Years","date":"2020-08-01T12:00:00.000Z","answerer_name":"oldtimer","helpfulness":0,"photos":[]}',
  12: '{"id":12,"body":"Italy","date":"2020-06-01T12:00:00.000Z","answerer_name":"maker","helpfulness":1,"photos":[]}',
};

const QUESTION: Record<number, string> = {
  1:
    '{"question_id":1,"question_body":"What fabric is the top made of?","question_date":"2020-07-27T21:18:34.409Z",' +
    '"asker_name":"yankeelover","question_helpfulness":1,"reported":false,"answers":{}}',
  3:
    '{"question_id":3,"question_body":"Does this run \\"big\\" or small?\\nAsking for a friend",' +
    '"question_date":"2020-12-21T07:31:47.083Z","asker_name":"jbilas","question_helpfulness":8,"reported":false,' +
    `"answers":{"5":${ANSWER[5]},"8":${ANSWER[8]},"10":${ANSWER[10]}}}`,
  4:
    '{"question_id":4,"question_body":"How long does it last?","question_date":"2020-07-10T00:35:17.010Z",' +
    `"asker_name":"funnygirl","question_helpfulness":6,"reported":false,"answers":{"11":${ANSWER[11]}}}`,
  5:
    '{"question_id":5,"question_body":"Can I wash it?","question_date":"2020-12-25T00:14:44.662Z",' +
    '"asker_name":"cleopatra","question_helpfulness":7,"reported":false,"answers":{}}',
  7:
    '{"question_id":7,"question_body":"Naïve question: café?","question_date":"2021-01-01T00:00:00.001Z",' +
    '"asker_name":"coolkid","question_helpfulness":8,"reported":false,"answers":{}}',
  8:
    '{"question_id":8,"question_body":"Where is this product made?","question_date":"2020-05-25T17:54:33.460Z",' +
    `"asker_name":"iluvcatz","question_helpfulness":0,"reported":false,"answers":{"12":${ANSWER[12]}}}`,
};

/** An answer of /qa/questions/:id/answers (photos as {id,url} objects). */
const LISTED_ANSWER: Record<number, string> = {
  5:
    '{"answer_id":5,"body":"Runs \\"true\\" to size","date":"2021-01-05T10:00:00.000Z","answerer_name":"sillyguy",' +
    '"helpfulness":2,"photos":[{"id":1,"url":"https://img.example/a5a"},{"id":2,"url":"https://img.example/a5b"}]}',
  8: '{"answer_id":8,"body":"Slightly big","date":"2020-12-30T08:00:00.123Z","answerer_name":"bigfan","helpfulness":8,"photos":[]}',
  10:
    '{"answer_id":10,"body":"Small","date":"2021-01-06T00:00:00.500Z","answerer_name":"tiny","helpfulness":2,' +
    '"photos":[{"id":3,"url":"https://img.example/a10"}]}',
};

const QUESTION_ORDER = [3, 7, 5, 4, 1];
const ANSWER_ORDER = [8, 5, 10];

const questionsBody = (product: string, ids: readonly number[]): string =>
  `{"product_id":"${product}","results":[${ids.map((id) => QUESTION[id]).join(',')}]}`;
const answersBody = (question: string, page: number, count: number, ids: readonly number[]): string =>
  `{"question":"${question}","page":${page},"count":${count},"results":[${ids.map((id) => LISTED_ANSWER[id]).join(',')}]}`;

function serveFixture(t: Test): Promise<Api> {
  return serveApi(t, FIXTURE);
}

let readOnly: Promise<Api> | undefined;
/** One fixture server shared by the tests that only read, closed when this file's tests end. */
function serveReadOnlyFixture(): Promise<Api> {
  readOnly ??= serveFixture(t);
  return readOnly;
}

async function expectNoContent(t: Test, response: Response, message = response.url): Promise<void> {
  t.equal(response.status, 204, message);
  t.equal(response.headers.get('content-type'), null, 'a 204 has no Content-Type');
  t.equal(await response.text(), '', message);
}

async function questionIds(api: Api, path: string): Promise<number[]> {
  const body = (await (await api.get(path)).json()) as { results: { question_id: number }[] };
  return body.results.map((question) => question.question_id);
}

async function answerIds(api: Api, path: string): Promise<number[]> {
  const body = (await (await api.get(path)).json()) as { results: { answer_id: number }[] };
  return body.results.map((answer) => answer.answer_id);
}

const UNKNOWN_ID = 'Nothing exists with this id.';
const NEW_QUESTION = { body: 'Is it warm?', name: 'jackson11', email: 'first.last@gmail.com', product_id: 1 };
const NEW_ANSWER = {
  body: 'Very warm.',
  name: 'answerer',
  email: 'a@example.com',
  photos: ['https://img.example/n1', 'http://img.example/n2'],
};

t.test('GET /qa/questions answers the contract body byte for byte', async (t) => {
  const api = await serveReadOnlyFixture();
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=1'),
    questionsBody('1', QUESTION_ORDER),
    'page 1, count 5 by default; answers keyed by id with URL photos; reported questions and answers left out',
  );
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=1&count=3'),
    questionsBody('1', [3, 7, 5]),
    'helpfulness desc, then question_id asc',
  );
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=2&count=5000'),
    questionsBody('2', [8]),
    'count above 1000 is 1000',
  );
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=3'),
    '{"product_id":"3","results":[]}',
    'a product without questions',
  );
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=99&page=2'),
    '{"product_id":"99","results":[]}',
    'an unknown product',
  );
});

t.test('GET /qa/questions pages walk every visible question once, then answer empty pages', async (t) => {
  const api = await serveReadOnlyFixture();
  const walked: number[] = [];
  for (let page = 1; page <= 3; page += 1)
    walked.push(...(await questionIds(api, `/qa/questions?product_id=1&page=${page}&count=2`)));
  t.same(walked, QUESTION_ORDER);
  await expectBody(t, await api.get('/qa/questions?product_id=1&page=4&count=2'), '{"product_id":"1","results":[]}');
});

t.test(
  'GET /qa/questions/:id/answers answers the contract body byte for byte, and 404 for hidden questions',
  async (t) => {
    const api = await serveReadOnlyFixture();
    await expectBody(
      t,
      await api.get('/qa/questions/3/answers'),
      answersBody('3', 0, 5, ANSWER_ORDER),
      'helpfulness desc, then answer_id asc; {id,url} photos; the reported answer left out',
    );
    // A question's first read on a worker is answered uncached, the next ones from the cache: all the same.
    await expectBody(t, await api.get('/qa/questions/3/answers'), answersBody('3', 0, 5, ANSWER_ORDER));
    await expectBody(t, await api.get('/qa/questions/3/answers'), answersBody('3', 0, 5, ANSWER_ORDER));
    await expectBody(
      t,
      await api.get('/qa/questions/3/answers?page=2&count=2'),
      answersBody('3', 1, 2, [10]),
      'page echo is 0-based, count is the page size',
    );
    await expectBody(
      t,
      await api.get('/qa/questions/3/answers?page=3&count=2'),
      answersBody('3', 2, 2, []),
      'past the end',
    );
    await expectBody(t, await api.get('/qa/questions/3/answers?count=1001'), answersBody('3', 0, 1000, ANSWER_ORDER));
    await expectBody(
      t,
      await api.get('/qa/questions/5/answers'),
      answersBody('5', 0, 5, []),
      'a question without answers',
    );
    for (const path of [
      '/qa/questions/2/answers',
      '/qa/questions/6/answers',
      '/qa/questions/999/answers',
      '/qa/questions/abc/answers',
      '/qa/questions/0/answers',
      '/qa/questions/2147483648/answers',
      '/qa/questions/03/answers',
    ]) {
      await expectError(t, await api.get(path), 404, UNKNOWN_ID, path);
    }
  },
);

t.test('invalid query parameters are a 422 naming the parameter; wrong methods a 405', async (t) => {
  const api = await serveReadOnlyFixture();
  for (const query of [
    '',
    '?product_id=',
    '?product_id=abc',
    '?product_id=0',
    '?product_id=-1',
    '?product_id=01',
    '?product_id=1.5',
    '?product_id=2147483648',
    '?productId=1',
  ]) {
    await expectError(
      t,
      await api.get(`/qa/questions${query}`),
      422,
      'product_id must be a positive integer no larger than 2147483647.',
    );
  }
  for (const path of ['/qa/questions?product_id=1&page=0', '/qa/questions/3/answers?page=x']) {
    await expectError(t, await api.get(path), 422, 'page must be a positive integer no larger than 2147483647.');
  }
  for (const path of ['/qa/questions?product_id=1&count=0', '/qa/questions/3/answers?count=-5']) {
    await expectError(t, await api.get(path), 422, 'count must be a positive integer.');
  }
  for (const [method, path, allowed] of [
    ['PUT', '/qa/questions', 'GET, HEAD, POST, OPTIONS'],
    ['DELETE', '/qa/questions/3/answers', 'GET, HEAD, POST, OPTIONS'],
    ['GET', '/qa/questions/3/helpful', 'PUT, OPTIONS'],
    ['POST', '/qa/questions/3/report', 'PUT, OPTIONS'],
    ['GET', '/qa/answers/5/helpful', 'PUT, OPTIONS'],
    ['PATCH', '/qa/answers/5/report', 'PUT, OPTIONS'],
  ] as const) {
    const response = await api.send(method, path);
    t.equal(response.status, 405, `${method} ${path}`);
    t.equal(response.headers.get('allow'), allowed);
    await response.arrayBuffer();
  }
  await expectError(t, await api.get('/qa/answers/5'), 404, 'No route matches this path.');
});

t.test('POST /qa/questions stores the question, and the list shows it at once', async (t) => {
  const api = await serveFixture(t);
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=1&count=10'),
    questionsBody('1', QUESTION_ORDER),
    'cache warmed',
  );

  const response = await api.send('POST', '/qa/questions', { ...NEW_QUESTION, ignored: 'unknown fields are ignored' });
  t.equal(response.status, 201);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  t.equal(await response.text(), '{"question_id":9}', 'the id continues after the largest loaded one');

  t.same(await api.db.query('SELECT product_id, asker_email, reported, helpful FROM questions WHERE id = 9'), [
    { product_id: 1, asker_email: 'first.last@gmail.com', reported: false, helpful: 0 },
  ]);
  const [{ date }] = await api.db.query<{ date: string }>(
    `SELECT to_char(date_written AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS date FROM questions WHERE id = 9`,
  );
  t.ok(Math.abs(Date.parse(date!) - Date.now()) < 60_000, 'dated now');
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=1&count=10'),
    questionsBody('1', QUESTION_ORDER).replace(
      /]}$/,
      `,{"question_id":9,"question_body":"Is it warm?","question_date":"${date}","asker_name":"jackson11",` +
        '"question_helpfulness":0,"reported":false,"answers":{}}]}',
    ),
  );
  await expectBody(t, await api.get('/qa/questions/9/answers'), '{"question":"9","page":0,"count":5,"results":[]}');
});

t.test('POST /qa/questions answers 422 naming the first invalid field, and stores nothing', async (t) => {
  const api = await serveFixture(t);
  const cases: [Record<string, unknown>, string, string][] = [
    [{ body: undefined }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: '' }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: 'x'.repeat(1001) }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: 42 }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: 'a\u0000b' }, 'body', 'text without NUL characters'],
    [{ name: '' }, 'name', 'a string of 1 to 60 characters'],
    [{ name: 'n'.repeat(61) }, 'name', 'a string of 1 to 60 characters'],
    [{ email: undefined }, 'email', 'a string of 1 to 60 characters'],
    [{ email: `${'e'.repeat(50)}@example.com` }, 'email', 'a string of 1 to 60 characters'],
    [{ email: 'first.last' }, 'email', 'an email address'],
    [{ email: 'first@gmail' }, 'email', 'an email address'],
    [{ product_id: undefined }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: '01' }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 0 }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 1.5 }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 2 ** 31 }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 99 }, 'product_id', 'the id of an existing product'],
    [{ body: '', product_id: 99 }, 'body', 'a string of 1 to 1000 characters'],
  ];
  for (const [change, field, requirement] of cases) {
    await expectError(
      t,
      await api.send('POST', '/qa/questions', { ...NEW_QUESTION, ...change }),
      422,
      `${field} must be ${requirement}.`,
      JSON.stringify(change).slice(0, 80),
    );
  }
  await expectError(
    t,
    await api.send('POST', '/qa/questions', [NEW_QUESTION]),
    422,
    'The request body must be a JSON object.',
  );
  await expectError(t, await api.send('POST', '/qa/questions', '{"body":'), 400, 'The request body is not valid JSON.');
  await expectError(
    t,
    await api.send('POST', '/qa/questions', JSON.stringify(NEW_QUESTION), 'text/plain'),
    415,
    'The request body must be sent with Content-Type: application/json.',
  );
  await expectError(
    t,
    await api.send('POST', '/qa/questions', JSON.stringify({ ...NEW_QUESTION, body: 'x'.repeat(70_000) })),
    413,
    'The request body is larger than 64 KiB.',
  );
  const longest = await api.send('POST', '/qa/questions', {
    ...NEW_QUESTION,
    body: `${'x'.repeat(999)}😀`,
    name: 'n'.repeat(60),
  });
  t.equal(longest.status, 201, '1000 characters (code points) and a 60-character name are accepted');
  await longest.arrayBuffer();
  t.same(
    await api.db.query('SELECT count(*)::int AS n FROM questions'),
    [{ n: 9 }],
    'only the valid question was stored',
  );
});

t.test('POST /qa/questions/:id/answers stores the answer and its photos, and both lists show it at once', async (t) => {
  const api = await serveFixture(t);
  // Warm every cached body the write must invalidate (the answers list twice: its first read is not cached).
  await expectBody(t, await api.get('/qa/questions?product_id=1'), questionsBody('1', QUESTION_ORDER));
  for (let i = 0; i < 2; i += 1)
    await expectBody(t, await api.get('/qa/questions/5/answers'), answersBody('5', 0, 5, []));

  const response = await api.send('POST', '/qa/questions/5/answers', NEW_ANSWER);
  t.equal(response.status, 201);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  t.equal(await response.text(), '{"answer_id":13}', 'the id continues after the largest loaded one');
  const [{ date }] = await api.db.query<{ date: string }>(
    `SELECT to_char(date_written AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS date FROM answers WHERE id = 13`,
  );
  t.ok(Math.abs(Date.parse(date!) - Date.now()) < 60_000, 'dated now');
  const fields = `"body":"Very warm.","date":"${date}","answerer_name":"answerer","helpfulness":0`;
  await expectBody(
    t,
    await api.get('/qa/questions/5/answers'),
    '{"question":"5","page":0,"count":5,"results":[' +
      `{"answer_id":13,${fields},"photos":[{"id":5,"url":"https://img.example/n1"},{"id":6,"url":"http://img.example/n2"}]}]}`,
  );
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=1'),
    questionsBody('1', QUESTION_ORDER).replace(
      '"question_helpfulness":7,"reported":false,"answers":{}',
      `"question_helpfulness":7,"reported":false,"answers":{"13":{"id":13,${fields},"photos":["https://img.example/n1","http://img.example/n2"]}}`,
    ),
  );
  t.same(await api.db.query('SELECT answerer_email, reported FROM answers WHERE id = 13'), [
    { answerer_email: 'a@example.com', reported: false },
  ]);

  const bare = await api.send('POST', '/qa/questions/5/answers', { body: 'b', name: 'n', email: 'a@b.co' });
  t.equal(await bare.text(), '{"answer_id":14}', 'photos may be absent');
  const empty = await api.send('POST', '/qa/questions/5/answers', { ...NEW_ANSWER, photos: [] });
  t.equal(await empty.text(), '{"answer_id":15}', 'or empty');
  t.same(await api.db.query('SELECT count(*)::int AS n FROM answers_photos WHERE answer_id > 13'), [{ n: 0 }]);
});

t.test(
  'POST /qa/questions/:id/answers: 404 for a hidden question, 422 naming the first invalid field; nothing stored',
  async (t) => {
    const api = await serveFixture(t);
    for (const path of ['/qa/questions/2/answers', '/qa/questions/999/answers', '/qa/questions/abc/answers']) {
      await expectError(t, await api.send('POST', path, NEW_ANSWER), 404, UNKNOWN_ID, path);
    }
    const photos = 'an array of at most 5 http(s) URLs of at most 2048 characters each';
    const cases: [Record<string, unknown>, string, string][] = [
      [{ body: '' }, 'body', 'a string of 1 to 1000 characters'],
      [{ body: 'x'.repeat(1001) }, 'body', 'a string of 1 to 1000 characters'],
      [{ name: undefined }, 'name', 'a string of 1 to 60 characters'],
      [{ name: 'n'.repeat(61) }, 'name', 'a string of 1 to 60 characters'],
      [{ email: 'a@b' }, 'email', 'an email address'],
      [{ email: 'a b@c.com' }, 'email', 'an email address'],
      [{ photos: 'https://img.example/1' }, 'photos', photos],
      [{ photos: Array(6).fill('https://img.example/1') }, 'photos', photos],
      [{ photos: ['ftp://img.example/1'] }, 'photos', photos],
      [{ photos: ['not a url'] }, 'photos', photos],
      [{ photos: [`https://img.example/${'p'.repeat(2030)}`] }, 'photos', photos],
      [{ photos: [null] }, 'photos', photos],
      [{ photos: null }, 'photos', photos],
    ];
    for (const [change, field, requirement] of cases) {
      await expectError(
        t,
        await api.send('POST', '/qa/questions/3/answers', { ...NEW_ANSWER, ...change }),
        422,
        `${field} must be ${requirement}.`,
        JSON.stringify(change).slice(0, 80),
      );
    }
    await expectError(
      t,
      await api.send('POST', '/qa/questions/3/answers', 'null'),
      422,
      'The request body must be a JSON object.',
    );
    await expectError(
      t,
      await api.send('POST', '/qa/questions/3/answers', '{'),
      400,
      'The request body is not valid JSON.',
    );
    await expectError(
      t,
      await api.send('POST', '/qa/questions/3/answers', JSON.stringify(NEW_ANSWER), 'text/plain'),
      415,
      'The request body must be sent with Content-Type: application/json.',
    );
    const five = await api.send('POST', '/qa/questions/3/answers', {
      ...NEW_ANSWER,
      photos: Array(5).fill(`https://img.example/${'p'.repeat(2028)}`),
    });
    t.equal(five.status, 201, 'five URLs of 2048 characters are accepted');
    await five.arrayBuffer();
    t.same(
      await api.db.query(
        'SELECT (SELECT count(*) FROM answers)::int AS answers, (SELECT count(*) FROM answers_photos)::int AS photos',
      ),
      [{ answers: 7, photos: 9 }],
      'only the valid answer and its photos were stored',
    );
  },
);

t.test('a batch in which one photo fails its insert leaves nothing of any of its answers behind', async (t) => {
  const api = await serveFixture(t);
  const tables =
    'SELECT (SELECT count(*) FROM answers)::int AS answers, (SELECT count(*) FROM answers_photos)::int AS photos';
  const before = await api.db.query(tables);
  // The route never lets a null URL through, so the statement is called directly with one that
  // fails answers_photos' NOT NULL after the batch's answer rows and other photos were inserted.
  const pool = directPool(t, api.url);
  const answer = { body: 'b', name: 'n', email: 'a@b.co', photos: ['https://img.example/ok'] };
  await t.rejects(
    createAnswers(pool, [
      { questionId: 3, answer },
      { questionId: 3, answer: { ...answer, photos: ['https://img.example/ok', null as never] } },
      { questionId: 4, answer },
    ]),
    { code: '23502' },
    'the NOT NULL on answers_photos.url fails the statement',
  );
  t.same(await api.db.query(tables), before, 'neither the answers nor any of their photos were kept');
  await expectBody(t, await api.get('/qa/questions/3/answers'), answersBody('3', 0, 5, ANSWER_ORDER));
  const [next] = await createAnswers(pool, [{ questionId: 3, answer }]);
  t.ok(next, 'the next batch is stored');
});

t.test('PUT helpful: parallel votes on a question and on an answer are all counted; unknown ids are 404', async (t) => {
  const api = await serveFixture(t);
  t.same(await questionIds(api, '/qa/questions?product_id=1&count=10'), QUESTION_ORDER, 'cache warmed');
  for (let i = 0; i < 2; i += 1) t.same(await answerIds(api, '/qa/questions/3/answers'), ANSWER_ORDER);

  const votes = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      api.send('PUT', i % 2 === 0 ? '/qa/questions/1/helpful' : '/qa/answers/10/helpful'),
    ),
  );
  for (const vote of votes) await expectNoContent(t, vote);
  t.same(
    await api.db.query('SELECT helpful FROM questions WHERE id = 1'),
    [{ helpful: 11 }],
    'question 1: 1 + 10 votes',
  );
  t.same(await api.db.query('SELECT helpful FROM answers WHERE id = 10'), [{ helpful: 12 }], 'answer 10: 2 + 10 votes');
  t.same(
    await questionIds(api, '/qa/questions?product_id=1&count=10'),
    [1, 3, 7, 5, 4],
    'the cached order moved at once',
  );
  t.same(await answerIds(api, '/qa/questions/3/answers'), [10, 8, 5], 'and so did the cached answers order');
  const body = (await (await api.get('/qa/questions?product_id=1&count=1')).json()) as {
    results: { question_helpfulness: number; answers: Record<string, { helpfulness: number }> }[];
  };
  t.equal(body.results[0]?.question_helpfulness, 11);

  for (const path of [
    '/qa/questions/999/helpful',
    '/qa/questions/999/report',
    '/qa/answers/999/helpful',
    '/qa/answers/999/report',
    '/qa/questions/abc/helpful',
    '/qa/answers/0/report',
    '/qa/answers/2147483648/helpful',
    '/qa/questions/01/report',
  ]) {
    await expectError(t, await api.send('PUT', path), 404, UNKNOWN_ID, path);
  }
});

t.test('PUT report hides a question or an answer from every read at once; reporting twice is still 204', async (t) => {
  const api = await serveFixture(t);
  t.same(await questionIds(api, '/qa/questions?product_id=1&count=10'), QUESTION_ORDER, 'cache warmed');
  for (let i = 0; i < 2; i += 1) {
    t.same(await answerIds(api, '/qa/questions/3/answers'), ANSWER_ORDER);
    t.same(await answerIds(api, '/qa/questions/4/answers'), [11]);
  }

  for (const report of await Promise.all([
    api.send('PUT', '/qa/answers/8/report'),
    api.send('PUT', '/qa/answers/8/report'),
  ])) {
    await expectNoContent(t, report);
  }
  await expectNoContent(t, await api.send('PUT', '/qa/answers/8/report'), 'reporting a reported answer');
  t.same(await answerIds(api, '/qa/questions/3/answers'), [5, 10]);
  await expectBody(
    t,
    await api.get('/qa/questions?product_id=1&count=1'),
    questionsBody('1', [3]).replace(`"8":${ANSWER[8]},`, ''),
    'the answer left the questions list too',
  );

  await expectNoContent(t, await api.send('PUT', '/qa/questions/4/report'));
  await expectNoContent(t, await api.send('PUT', '/qa/questions/4/report'), 'reporting a reported question');
  t.same(await questionIds(api, '/qa/questions?product_id=1&count=10'), [3, 7, 5, 1]);
  await expectError(t, await api.get('/qa/questions/4/answers'), 404, UNKNOWN_ID, 'its answers are gone with it');
  await expectError(
    t,
    await api.send('POST', '/qa/questions/4/answers', NEW_ANSWER),
    404,
    UNKNOWN_ID,
    'and it takes no new answer',
  );
  t.same(await api.db.query('SELECT id FROM questions WHERE reported ORDER BY id'), [{ id: 2 }, { id: 4 }, { id: 6 }]);
});
