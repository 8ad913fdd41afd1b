#!/usr/bin/env node
// Drives the stock Marquez web UI (marquez-web 0.51, served by its own setupProxy.js) against a
// prov9 server in headless Chromium, page by page, and exits non-zero listing what broke.
//
//   node check.mjs --prov9 http://127.0.0.1:5000 --web http://127.0.0.1:3000 [--out DIR]
//                  [--chromium /usr/bin/chromium] [--job NS/NAME] [--dataset NS/NAME] [--json]
//
// Env fallbacks: PROV9_URL, WEB_URL, OUT_DIR, CHROMIUM. Needs `playwright-core` (npm).
// The web UI must proxy /api/v1 to the same prov9 (MARQUEZ_HOST/MARQUEZ_PORT).
//
// What it reads from prov9 directly (to know what the UI should show): namespaces, jobs,
// datasets, lineage, column lineage, the time range of the events. Per page it records the
// browser's console errors, uncaught exceptions, every /api/ request with its status (and the
// body of failures), the error toast, and content checks (names visible, graph node counts).
// Screenshots go to OUT_DIR/<page>.png; a full log to OUT_DIR/report.json.

import { chromium } from 'playwright-core'
import fs from 'node:fs'
import path from 'node:path'

// ---------- arguments ----------
const argv = process.argv.slice(2)
const opt = (name, env, dflt) => {
  const i = argv.indexOf(`--${name}`)
  if (i >= 0 && argv[i + 1]) return argv[i + 1]
  return process.env[env] || dflt
}
const PROV9 = opt('prov9', 'PROV9_URL', 'http://127.0.0.1:5000').replace(/\/$/, '')
const WEB = opt('web', 'WEB_URL', 'http://127.0.0.1:3000').replace(/\/$/, '')
const OUT = opt('out', 'OUT_DIR', path.dirname(new URL(import.meta.url).pathname))
const CHROMIUM = opt('chromium', 'CHROMIUM', '/usr/bin/chromium')
const JOB_ARG = opt('job', 'CHECK_JOB', '')
const DATASET_ARG = opt('dataset', 'CHECK_DATASET', '')
const TIMEOUT = Number(opt('timeout', 'CHECK_TIMEOUT_MS', '20000'))
fs.mkdirSync(OUT, { recursive: true })

const enc = encodeURIComponent
const webOrigin = new URL(WEB).origin

// ---------- prov9, read directly ----------
async function api(p) {
  const r = await fetch(`${PROV9}/api/v1${p}`)
  const text = await r.text()
  if (!r.ok) throw new Error(`prov9 GET /api/v1${p} -> ${r.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text)
}

// The nodes the UI's table-level graph keeps (web/src/routes/table-level/layout.ts
// createElkNodes with isFull=false): the start node and everything reachable from it
// following outEdges.destination (downstream) or inEdges.origin (upstream).
function expectedTableLevelNodes(graph, startId) {
  const byId = new Map(graph.map((n) => [n.id, n]))
  const walk = (pick) => {
    const seen = new Set()
    const queue = byId.has(startId) ? [startId] : []
    while (queue.length) {
      const id = queue.shift()
      if (seen.has(id)) continue
      seen.add(id)
      for (const next of pick(byId.get(id))) if (byId.has(next)) queue.push(next)
    }
    return seen
  }
  const down = walk((n) => n.outEdges.map((e) => e.destination))
  const up = walk((n) => n.inEdges.map((e) => e.origin))
  return new Set([...down, ...up])
}

async function discover() {
  const { namespaces } = await api('/namespaces')
  if (!namespaces.length) throw new Error('prov9 has no namespaces: load data first (serve --demo)')
  const { jobs } = await api('/jobs?limit=1000&offset=0')
  const datasets = []
  for (const ns of namespaces) {
    const r = await api(`/namespaces/${enc(ns.name)}/datasets?limit=1000&offset=0`)
    datasets.push(...r.datasets)
  }
  if (!jobs.length || !datasets.length) throw new Error('prov9 has no jobs or no datasets')

  const split = (s) => {
    const i = s.lastIndexOf('/')
    // NS/NAME where NS may itself contain "/" (s3://bucket): split on the first "/" after "//"
    const m = s.match(/^(.*?:\/\/[^/]+|[^/]+)\/(.*)$/)
    return m ? { namespace: m[1], name: m[2] } : { namespace: s.slice(0, i), name: s.slice(i + 1) }
  }
  let job
  if (JOB_ARG) job = await api(`/namespaces/${enc(split(JOB_ARG).namespace)}/jobs/${enc(split(JOB_ARG).name)}`)
  else {
    // The job with the most runs, then inputs+outputs: it exercises the most of the UI.
    const score = (j) => (j.latestRuns?.length || 0) * 10 + (j.inputs?.length || 0) + (j.outputs?.length || 0)
    job = [...jobs].sort((a, b) => score(b) - score(a))[0]
  }

  // Column lineage per dataset, straight from prov9.
  const colLineage = new Map()
  for (const d of datasets) {
    try {
      const g = await api(`/column-lineage?nodeId=${enc(`dataset:${d.namespace}:${d.name}`)}&depth=20&withDownstream=true`)
      colLineage.set(`${d.namespace}\u0000${d.name}`, g.graph)
    } catch {
      colLineage.set(`${d.namespace}\u0000${d.name}`, [])
    }
  }
  const colOf = (d) => colLineage.get(`${d.namespace}\u0000${d.name}`) || []
  const ownColumns = (d) => colOf(d).filter((n) => n.data && n.data.namespace === d.namespace && n.data.dataset === d.name && (n.data.inputFields || []).length)

  let dataset
  if (DATASET_ARG) {
    const s = split(DATASET_ARG)
    dataset = datasets.find((d) => d.namespace === s.namespace && d.name === s.name)
    if (!dataset) throw new Error(`dataset ${DATASET_ARG} not found in prov9`)
  } else {
    // Fields, versions and column lineage into it.
    const score = (d) => ownColumns(d).length * 100 + d.fields.length
    dataset = [...datasets].sort((a, b) => score(b) - score(a))[0]
  }
  const { versions, totalCount: versionCount } = await api(
    `/namespaces/${enc(dataset.namespace)}/datasets/${enc(dataset.name)}/versions?limit=100&offset=0`
  )
  const jobLineage = (await api(`/lineage?nodeId=${enc(`job:${job.namespace}:${job.name}`)}&depth=2`)).graph
  const datasetLineage = (await api(`/lineage?nodeId=${enc(`dataset:${dataset.namespace}:${dataset.name}`)}&depth=2`)).graph
  const datasetsWithColumnLineage = datasets.filter((d) => ownColumns(d).length > 0)
  const colDataset = datasetsWithColumnLineage.includes(dataset) ? dataset : datasetsWithColumnLineage[0] || dataset

  // Time range of the events (the events page shows today only by default).
  const newest = await api('/events/lineage?limit=1&sortDirection=desc')
  const oldest = await api('/events/lineage?limit=1&sortDirection=asc')
  const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, '.000Z')
  const from = oldest.events[0] ? new Date(Date.parse(oldest.events[0].eventTime) - 86400e3) : new Date(Date.now() - 86400e3)
  const to = newest.events[0] ? new Date(Date.parse(newest.events[0].eventTime) + 86400e3) : new Date()

  const runs = (await api(`/namespaces/${enc(job.namespace)}/jobs/${enc(job.name)}/runs?limit=100&offset=0`)).runs
  return {
    datasetOwnColumns: ownColumns(dataset).map((n) => n.data.field),
    colDatasetOwnColumns: [],
    namespaces: namespaces.map((n) => n.name),
    jobs,
    datasets,
    job,
    runs,
    dataset,
    versions,
    versionCount,
    jobLineage,
    datasetLineage,
    colDataset,
    colGraph: colOf(colDataset),
    datasetsWithColumnLineage,
    events: { from: iso(from), to: iso(to), total: newest.totalCount, sample: newest.events[0] },
  }
}

// ---------- browser harness ----------
const results = []

function isExternal(url) {
  try {
    return new URL(url).origin !== webOrigin
  } catch {
    return false
  }
}

async function visit(browser, name, D, fn) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } })
  const page = await context.newPage()
  const rec = { page: name, url: null, api: [], assets: [], consoleErrors: [], exceptions: [], toasts: [], failures: [], notes: [] }
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    const loc = m.location()?.url || ''
    // fonts.googleapis.com etc.: no internet here, not prov9's doing
    if (isExternal(loc) || /fonts\.(googleapis|gstatic)\.com/.test(m.text())) return
    rec.consoleErrors.push(m.text().slice(0, 2000))
  })
  page.on('pageerror', (e) => rec.exceptions.push(String(e.stack || e).slice(0, 3000)))
  page.on('requestfailed', (r) => {
    if (isExternal(r.url())) return
    if (new URL(r.url()).pathname.startsWith('/api/'))
      rec.api.push({ method: r.method(), url: r.url().replace(webOrigin, ''), status: 'FAILED', error: r.failure()?.errorText })
  })
  page.on('response', async (r) => {
    const u = new URL(r.url())
    if (u.origin !== webOrigin) return
    if (!u.pathname.startsWith('/api/')) {
      // the stock UI's own files (index.html links img/icon.svg, which its build does not emit)
      if (r.status() >= 400) rec.assets.push(`${r.status()} ${u.pathname}`)
      return
    }
    const entry = { method: r.request().method(), url: u.pathname + u.search, status: r.status() }
    rec.api.push(entry)
    if (r.status() >= 400) {
      try {
        entry.body = (await r.text()).slice(0, 2000)
      } catch {}
    }
  })
  // The error toast (Toast.tsx, an MUI Snackbar) hides after 5 s and is lost on navigation:
  // watch for it from inside the page.
  await page.exposeFunction('__mqToast', (t) => rec.toasts.push(String(t).trim()))
  await page.addInitScript(() => {
    const seen = new Set()
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('.MuiSnackbar-root')) {
        const t = el.innerText
        if (t && !seen.has(t)) {
          seen.add(t)
          window.__mqToast(t)
        }
      }
    }).observe(document, { childList: true, subtree: true, characterData: true })
  })
  const fail = (msg) => rec.failures.push(msg)
  const note = (msg) => rec.notes.push(msg)
  try {
    await fn({ page, fail, note, rec, D })
  } catch (e) {
    fail(`check threw: ${String(e.message || e).split('\n')[0]}`)
  }
  // Let trailing requests settle, then read the toast (Toast.tsx: MUI Snackbar with the saga's message).
  await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {})
  await page.waitForTimeout(300)
  rec.url = page.url().replace(webOrigin, '')
  rec.toasts = [...new Set(rec.toasts.filter(Boolean))]
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: false }).catch(() => {})

  for (const a of rec.api) if (a.status === 'FAILED' || a.status >= 400) fail(`API ${a.method} ${a.url} -> ${a.status}${a.body ? ` ${a.body.slice(0, 300)}` : ''}`)
  for (const e of rec.exceptions) fail(`JS exception: ${e.split('\n')[0]}`)
  // "Failed to load resource" console errors duplicate the API/asset records above
  for (const c of rec.consoleErrors) if (!/^Failed to load resource/.test(c)) fail(`console error: ${c.split('\n')[0].slice(0, 300)}`)
  for (const a of rec.assets) note(`stock UI static file missing (not prov9's): ${a}`)
  for (const t of rec.toasts) if (/wrong|error/i.test(t)) fail(`error toast: ${t}`)
  results.push(rec)
  await context.close()
}

// Open a route with a namespace pre-selected (NamespaceSelect reads localStorage.selectedNamespace).
async function open(page, route, namespace) {
  if (namespace) {
    await page.addInitScript((ns) => window.localStorage.setItem('selectedNamespace', ns), namespace)
  }
  await page.goto(`${WEB}${route}`, { waitUntil: 'domcontentloaded', timeout: TIMEOUT })
  await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
}

async function bodyText(page) {
  return page.locator('body').innerText({ timeout: TIMEOUT }).catch(() => '')
}

// Text as the UI truncates it (helpers/text.ts truncateText: first n chars + '...').
const trunc = (s, n) => (s.length > n ? s.slice(0, n) : s)

async function expectTexts(page, fail, what, names, n = 40) {
  const text = await bodyText(page)
  const missing = names.filter((s) => !text.includes(trunc(s, n)))
  if (missing.length) fail(`${what}: not visible: ${missing.join(', ')}`)
  return missing.length === 0
}

// Positioned nodes of the main graph (libs/graph Node.tsx renders <g x=0 y=0 transform=...>
// per node, children nested); the minimap is a separate svg.
async function graphNodes(page) {
  await page.locator('svg[data-testid="zoom-pan-svg"]').first().waitFor({ timeout: TIMEOUT }).catch(() => {})
  await page.waitForTimeout(1500) // elk layout runs in a web worker
  return page.evaluate(() => {
    const group = document.querySelector('svg[data-testid="zoom-pan-svg"] g[data-testid="zoom-pan-group"]')
    if (!group) return { top: 0, all: 0, texts: [] }
    const top = [...group.children].filter((c) => c.tagName === 'g' && c.getAttribute('x') === '0' && c.getAttribute('y') === '0')
    const all = group.querySelectorAll('g[x="0"][y="0"]')
    const texts = [...group.querySelectorAll('text')].map((t) => t.textContent)
    return { top: top.length, all: all.length, texts }
  })
}

// ---------- the pages ----------
const checks = [
  ['01-home', async ({ page, fail, note, D }) => {
    await open(page, '/')
    const names = D.jobs.slice(0, 5).map((j) => j.name)
    await expectTexts(page, fail, 'dashboard jobs', names)
    const text = await bodyText(page)
    note(`dashboard shows ${D.jobs.filter((j) => text.includes(trunc(j.name, 40))).length}/${D.jobs.length} job names`)
    // TIMEFRAME 7 DAYS: /stats/*?period=WEEK
    const week = page.waitForResponse((r) => r.url().includes('/api/v1/stats/') && r.url().includes('period=WEEK'), { timeout: TIMEOUT }).catch(() => null)
    await page.getByText('7 Days', { exact: true }).first().click()
    if (!(await week)) fail('dashboard: 7 DAYS sent no period=WEEK stats request')
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    // SEE MORE: the jobs drawer (JobsDrawer.tsx), paged /jobs
    await page.getByText('See More', { exact: true }).first().click().catch(() => fail('dashboard: no SEE MORE'))
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    await page.waitForTimeout(500)
    const drawer = await page.locator('.MuiDrawer-paperAnchorRight').innerText().catch(() => '')
    const missing = D.jobs.slice(0, 5).filter((j) => !drawer.includes(trunc(j.name, 40))).map((j) => j.name)
    if (missing.length) fail(`dashboard jobs drawer: not visible: ${missing.join(', ')}`)
    await page.screenshot({ path: path.join(OUT, '01-home-jobs-drawer.png') })
  }],

  ['02-jobs', async ({ page, fail, note, D }) => {
    await open(page, '/jobs', D.job.namespace)
    const expected = D.jobs.filter((j) => j.namespace === D.job.namespace).slice(0, 20).map((j) => j.name)
    await expectTexts(page, fail, `jobs of ${D.job.namespace}`, expected)
    // click through to the job, as a user does
    await page.getByText(trunc(D.job.name, 40), { exact: true }).first().click({ timeout: TIMEOUT })
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    const want = `/lineage/job/${enc(D.job.namespace)}/${enc(D.job.name)}`
    if (!page.url().includes(want)) fail(`clicking job ${D.job.name} went to ${page.url()}, wanted ${want}`)
    const g = await graphNodes(page)
    if (g.top === 0) fail('job lineage graph (reached from the jobs list) has no nodes')
  }],

  ['03-job-page', async ({ page, fail, note, D }) => {
    const id = `job:${D.job.namespace}:${D.job.name}`
    await open(page, `/lineage/job/${enc(D.job.namespace)}/${enc(D.job.name)}?tableLevelNode=${enc(id)}`, D.job.namespace)
    const drawer = page.locator('.MuiDrawer-paperAnchorRight')
    await drawer.waitFor({ timeout: TIMEOUT })
    await drawer.getByText('RUN FACETS').first().waitFor({ timeout: TIMEOUT }).catch(() => fail('job drawer: LATEST RUN tab shows no RUN FACETS'))
    const dtext = await drawer.innerText()
    if (!dtext.includes(trunc(D.job.name, 40))) fail(`job drawer: job name ${D.job.name} not shown`)
    if (D.job.latestRun && !dtext.includes(D.job.latestRun.state)) fail(`job drawer: running status ${D.job.latestRun.state} not shown`)
    if (!dtext.includes('JOB FACETS')) fail('job drawer: no JOB FACETS')
    await page.screenshot({ path: path.join(OUT, '03-job-page-latest.png') })
    // RUN HISTORY tab: the runs, then one run's facets
    await drawer.getByRole('tab', { name: 'RUN HISTORY' }).click()
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    const rows = drawer.locator('tbody tr')
    await rows.first().waitFor({ timeout: TIMEOUT }).catch(() => {})
    const n = await rows.count()
    note(`run history rows: ${n} (prov9 has ${D.runs.length} runs)`)
    if (n !== Math.min(D.runs.length, 10) && n !== D.runs.length) fail(`run history shows ${n} rows, prov9 has ${D.runs.length} runs`)
    const htext = await drawer.innerText()
    for (const r of D.runs.slice(0, 5)) if (!htext.includes(r.id.slice(0, 8))) fail(`run history: run ${r.id} not shown`)
    await page.screenshot({ path: path.join(OUT, '03-job-page-runs.png') })
    if (n > 0) {
      await rows.first().click()
      await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
      await drawer.getByText('RUN FACETS').first().waitFor({ timeout: TIMEOUT }).catch(() => fail('run view: no RUN FACETS'))
      const rtext = await drawer.innerText()
      if (D.runs[0] && !rtext.includes(D.runs[0].id)) fail(`run view: run id ${D.runs[0].id} not shown`)
    }
    await page.screenshot({ path: path.join(OUT, '03-job-page-run.png') })
  }],

  ['04-lineage-job', async ({ page, fail, note, D }) => {
    const start = `job:${D.job.namespace}:${D.job.name}`
    await open(page, `/lineage/job/${enc(D.job.namespace)}/${enc(D.job.name)}`, D.job.namespace)
    const expected = expectedTableLevelNodes(D.jobLineage, start)
    const g = await graphNodes(page)
    note(`job graph: ${g.top} nodes drawn, prov9 /lineage depth 2 has ${D.jobLineage.length} nodes, ${expected.size} connected to the job`)
    if (!D.jobLineage.find((n) => n.id === start)) fail(`prov9 lineage graph has no node with id ${start}`)
    if (g.top !== expected.size) fail(`job graph draws ${g.top} nodes, expected ${expected.size}`)
    if (!g.texts.some((t) => t.includes(trunc(D.job.name, 16)))) fail(`job graph: no node labelled ${D.job.name}`)
  }],

  ['05-datasets', async ({ page, fail, note, D }) => {
    await open(page, '/datasets', D.dataset.namespace)
    const expected = D.datasets.filter((d) => d.namespace === D.dataset.namespace).slice(0, 20).map((d) => d.name)
    await expectTexts(page, fail, `datasets of ${D.dataset.namespace}`, expected)
    // COLUMN LINEAGE column: "VIEW" when the dataset's `columnLineage` is set (Datasets.tsx)
    const views = await page.getByText('VIEW', { exact: true }).count()
    const withCl = D.datasetsWithColumnLineage.filter((d) => d.namespace === D.dataset.namespace)
    note(`datasets list: ${views} column-lineage VIEW links; prov9 /column-lineage has lineage into ${withCl.length} of these datasets`)
    if (withCl.length && views === 0)
      fail(`datasets list: no column-lineage VIEW link although ${withCl.map((d) => d.name).join(', ')} have column lineage (dataset.columnLineage is ${JSON.stringify(withCl[0].columnLineage)})`)
    await page.getByText(trunc(D.dataset.name, 40), { exact: true }).first().click({ timeout: TIMEOUT })
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    const want = `/lineage/dataset/${enc(D.dataset.namespace)}/${enc(D.dataset.name)}`
    if (!page.url().includes(want)) fail(`clicking dataset ${D.dataset.name} went to ${page.url()}, wanted ${want}`)
  }],

  ['06-dataset-page', async ({ page, fail, note, D }) => {
    const d = D.dataset
    const id = `dataset:${d.namespace}:${d.name}`
    await open(page, `/lineage/dataset/${enc(d.namespace)}/${enc(d.name)}?tableLevelNode=${enc(id)}`, d.namespace)
    const drawer = page.locator('.MuiDrawer-paperAnchorRight')
    await drawer.waitFor({ timeout: TIMEOUT })
    await drawer.getByRole('tab', { name: 'LATEST SCHEMA' }).waitFor({ timeout: TIMEOUT }).catch(() => fail('dataset drawer did not load'))
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    let text = await drawer.innerText()
    if (!text.includes(trunc(d.name, 40))) fail(`dataset drawer: name ${d.name} not shown`)
    if (!text.includes(`${d.fields.length} columns`)) fail(`dataset drawer: "${d.fields.length} columns" not shown`)
    const missing = d.fields.filter((f) => !text.includes(f.name)).map((f) => f.name)
    if (missing.length) fail(`dataset drawer: fields not shown: ${missing.join(', ')}`)
    // per-field column-lineage button (DatasetInfo.tsx): enabled when dataset.columnLineage names the field
    const clButtons = drawer.locator('a[href^="/datasets/column-level/"]')
    const enabled = await clButtons.evaluateAll((as) => as.filter((a) => !a.classList.contains('Mui-disabled')).length)
    note(`schema tab: ${enabled}/${await clButtons.count()} column-lineage buttons enabled; prov9 has column lineage into ${D.datasetOwnColumns.length} fields (${D.datasetOwnColumns.join(', ')})`)
    if (enabled < D.datasetOwnColumns.length) fail(`dataset drawer: column-lineage buttons disabled for ${D.datasetOwnColumns.join(', ')} although prov9 has their column lineage (GET dataset returns columnLineage ${JSON.stringify(d.columnLineage)})`)
    await page.screenshot({ path: path.join(OUT, '06-dataset-page-schema.png') })
    await drawer.getByRole('tab', { name: 'VERSION HISTORY' }).click()
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    const rows = drawer.locator('tbody tr')
    await rows.first().waitFor({ timeout: TIMEOUT }).catch(() => {})
    const n = await rows.count()
    note(`version rows: ${n} (prov9 has ${D.versionCount} versions)`)
    if (n === 0 && D.versionCount > 0) fail(`version history shows no rows, prov9 has ${D.versionCount}`)
    text = await drawer.innerText()
    for (const v of D.versions.slice(0, 5)) if (!text.includes(v.version.slice(0, 8))) fail(`version history: version ${v.version} not shown`)
    for (const v of D.versions.slice(0, 5)) if (v.createdByRun && !text.includes(v.createdByRun.id.slice(0, 8))) fail(`version history: created-by run ${v.createdByRun.id} not shown`)
    await page.screenshot({ path: path.join(OUT, '06-dataset-page-versions.png') })
    if (n > 0) {
      await rows.first().click()
      await page.waitForTimeout(500)
      text = await drawer.innerText()
      const v = D.versions[0]
      if (!text.includes(v.version)) fail(`version view: version ${v.version} not shown`)
      const miss = v.fields.filter((f) => !text.includes(f.name)).map((f) => f.name)
      if (miss.length) fail(`version view: fields not shown: ${miss.join(', ')}`)
      await page.screenshot({ path: path.join(OUT, '06-dataset-page-version.png') })
    }
  }],

  ['07-lineage-dataset', async ({ page, fail, note, D }) => {
    const d = D.dataset
    const start = `dataset:${d.namespace}:${d.name}`
    await open(page, `/lineage/dataset/${enc(d.namespace)}/${enc(d.name)}`, d.namespace)
    const expected = expectedTableLevelNodes(D.datasetLineage, start)
    const g = await graphNodes(page)
    note(`dataset graph: ${g.top} nodes drawn, prov9 /lineage depth 2 has ${D.datasetLineage.length} nodes, ${expected.size} connected`)
    if (!D.datasetLineage.find((n) => n.id === start)) fail(`prov9 lineage graph has no node with id ${start}`)
    if (g.top !== expected.size) fail(`dataset graph draws ${g.top} nodes, expected ${expected.size}`)
    if (!g.texts.some((t) => t.includes(trunc(d.name, 15)))) fail(`dataset graph: no node labelled ${d.name}`)
    // every node of the graph opens its drawer without errors: click the other nodes' labels
    const others = [...expected].filter((id) => id !== start)
    for (const id of others.slice(0, 6)) {
      const node = D.datasetLineage.find((n) => n.id === id)
      const route = `/lineage/${node.type.toLowerCase()}/${enc(node.data.namespace)}/${enc(node.data.name)}?tableLevelNode=${enc(id)}`
      await page.goto(`${WEB}${route}`, { waitUntil: 'domcontentloaded' })
      await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
      await page.waitForTimeout(800)
      const t = await page.locator('.MuiDrawer-paperAnchorRight').innerText().catch(() => '')
      if (!t.includes(trunc(node.data.name, 40))) {
        fail(`drawer of graph node ${id} did not show it`)
        await page.screenshot({ path: path.join(OUT, `07-lineage-dataset-node-${others.indexOf(id)}.png`) })
      }
    }
  }],

  ['08-column-lineage', async ({ page, fail, note, D }) => {
    const d = D.colDataset
    // The link the datasets list builds (Datasets.tsx): namespace encoded twice, name once.
    await open(page, `/datasets/column-level/${enc(enc(d.namespace))}/${enc(d.name)}`, d.namespace)
    let g = await graphNodes(page)
    const datasetsInGraph = new Set(D.colGraph.filter((n) => n.data).map((n) => `${n.data.namespace}:${n.data.dataset}`))
    note(`column lineage (UI link form) of ${d.namespace}/${d.name}: ${g.top} dataset boxes, ${g.all - g.top} column nodes drawn; prov9 graph has ${D.colGraph.length} field nodes in ${datasetsInGraph.size} datasets`)
    if (D.colGraph.length && g.top === 0) {
      // try the singly-encoded form too, to tell a routing problem from a data problem
      await page.goto(`${WEB}/datasets/column-level/${enc(d.namespace)}/${enc(d.name)}`, { waitUntil: 'domcontentloaded' })
      await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
      const g2 = await graphNodes(page)
      note(`column lineage (namespace encoded once): ${g2.top} dataset boxes, ${g2.all - g2.top} column nodes`)
      fail(`column lineage graph of ${d.namespace}/${d.name} draws no nodes via the UI's own link (prov9 has ${D.colGraph.length} field nodes)${g2.top ? '; the singly-encoded URL draws ' + g2.top : ''}`)
      g = g2
    } else if (D.colGraph.length && g.all - g.top !== D.colGraph.length) {
      fail(`column lineage draws ${g.all - g.top} column nodes, prov9 has ${D.colGraph.length}`)
    }
    // click the dataset's box title: ColumnLevelDrawer fetches the dataset, lists its schema and
    // (when dataset.columnLineage is set) shows it under FACETS
    const title = page.locator('svg[data-testid="zoom-pan-svg"] text', { hasText: trunc(d.name, 25) }).first()
    if (await title.count()) {
      await title.click()
      await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
      const drawer = page.locator('.MuiDrawer-paperAnchorRight')
      await drawer.getByText('SCHEMA').first().waitFor({ timeout: TIMEOUT }).catch(() => fail('column lineage drawer did not open'))
      await page.waitForTimeout(500)
      const t = await drawer.innerText().catch(() => '')
      const missing = d.fields.filter((f) => !t.includes(f.name)).map((f) => f.name)
      if (missing.length) fail(`column lineage drawer: fields not shown: ${missing.join(', ')}`)
      if (!t.includes('FACETS')) fail(`column lineage drawer: no column lineage (FACETS) section for ${d.name}: GET dataset returns columnLineage ${JSON.stringify(d.columnLineage)}`)
      await page.screenshot({ path: path.join(OUT, '08-column-lineage-drawer.png') })
    } else fail(`column lineage graph: no box titled ${d.name}`)
  }],

  ['09-events', async ({ page, fail, note, D }) => {
    // default view: today only
    await open(page, '/events')
    await page.waitForTimeout(500)
    await page.screenshot({ path: path.join(OUT, '09-events-today.png') })
    // the demo's days
    await page.goto(`${WEB}/events?dateFrom=${enc(D.events.from)}&dateTo=${enc(D.events.to)}`, { waitUntil: 'domcontentloaded' })
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    await page.waitForTimeout(500)
    const rows = await page.locator('tbody tr').count()
    note(`events ${D.events.from}..${D.events.to}: ${rows} rows shown (prov9 totalCount ${D.events.total})`)
    if (D.events.total > 0 && rows === 0) fail('events page shows no events for the data\'s time range')
    if (D.events.sample) {
      const text = await bodyText(page)
      if (!text.includes(D.events.sample.run.runId)) fail(`events page: newest event's run ${D.events.sample.run.runId} not shown`)
    }
    // expand the first event (shows its JSON)
    if (rows > 0) {
      await page.locator('tbody tr').first().click()
      await page.waitForTimeout(500)
    }
  }],

  ['10-search', async ({ page, fail, note, D }) => {
    await open(page, '/')
    const q = D.job.name.slice(0, Math.min(6, D.job.name.length))
    const input = page.locator('#searchBar')
    await input.click()
    // one change event: the search saga drops FETCH_SEARCH actions while a request is in flight
    // (sagas/index.ts fetchSearch: take, then blocking call), so per-key typing can leave the
    // results of a prefix on screen
    const searched = page.waitForResponse((r) => r.url().includes(`/api/v1/search?q=${enc(q)}&`), { timeout: TIMEOUT }).catch(() => null)
    await input.fill(q)
    if (!(await searched)) fail(`typing "${q}" sent no /api/v1/search?q=${q} request`)
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    await page.waitForTimeout(500)
    const results = await api(`/search?q=${enc(q)}&sort=NAME&limit=100`)
    note(`search "${q}": prov9 returns ${results.results.length} results`)
    const container = page.locator('#searchContainer')
    const text = await container.innerText().catch(() => '')
    const shown = (n) => text.includes(n.slice(n.lastIndexOf('.') + 1))
    const missing = results.results.filter((r) => !shown(r.name)).map((r) => r.name)
    if (missing.length) fail(`search dropdown misses: ${missing.join(', ')}`)
    await page.screenshot({ path: path.join(OUT, '10-search-results.png') })
    // the DATASETS filter chip (MqChipGroup): &filter=DATASET
    const ds = page.waitForResponse((r) => r.url().includes('/api/v1/search?') && r.url().includes('filter=DATASET'), { timeout: TIMEOUT }).catch(() => null)
    await container.getByText('DATASETS', { exact: true }).first().click().catch(() => {})
    if (!(await ds)) fail('search: the DATASETS filter sent no filter=DATASET request')
    await page.waitForTimeout(500)
    const dsResults = await api(`/search?q=${enc(q)}&filter=DATASET&sort=NAME&limit=100`)
    const t2 = await container.innerText().catch(() => '')
    const jobsShown = D.jobs.filter((j) => j.name.toLowerCase().includes(q.toLowerCase()) && t2.includes(j.name))
    if (jobsShown.length && !dsResults.results.some((r) => jobsShown.some((j) => j.name === r.name)))
      fail(`search DATASETS filter still shows jobs: ${jobsShown.map((j) => j.name).join(', ')}`)
    await container.getByText('All', { exact: true }).first().click().catch(() => {})
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    await page.waitForTimeout(500)
    // open the job from the results
    const link = container.locator(`a[href="/lineage/job/${enc(D.job.namespace)}/${enc(D.job.name)}"]`)
    if ((await link.count()) === 0) fail(`search: no result linking to /lineage/job/${D.job.namespace}/${D.job.name}`)
    else {
      await link.first().click()
      await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
      const g = await graphNodes(page)
      if (g.top === 0) fail('search result opened a graph with no nodes')
    }
  }],

  ['11-namespace-select', async ({ page, fail, note, D }) => {
    await open(page, '/datasets')
    // no localStorage: the first namespace is selected (reducers/namespaces.ts)
    const select = page.locator('#namespace-select')
    await select.waitFor({ timeout: TIMEOUT })
    const initial = (await select.innerText()).trim()
    if (initial !== D.namespaces[0]) fail(`namespace selector starts on "${initial}", expected the first namespace "${D.namespaces[0]}"`)
    await select.click()
    const items = page.locator('li[role="option"]')
    await items.first().waitFor({ timeout: TIMEOUT })
    const listed = (await items.allInnerTexts()).map((s) => s.trim())
    const missing = D.namespaces.filter((n) => !listed.includes(n))
    if (missing.length) fail(`namespace selector misses: ${missing.join(', ')}`)
    await page.screenshot({ path: path.join(OUT, '11-namespace-select-open.png') })
    // pick the namespace with the most datasets
    const counts = D.namespaces.map((ns) => [ns, D.datasets.filter((d) => d.namespace === ns).length])
    const target = counts.sort((a, b) => b[1] - a[1])[0][0]
    await page.locator('li[role="option"]', { hasText: target }).first().click()
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {})
    await page.keyboard.press('Escape').catch(() => {})
    await page.waitForTimeout(500)
    const now = (await select.innerText()).trim()
    if (now !== target) fail(`namespace selector shows "${now}" after choosing "${target}"`)
    const expected = D.datasets.filter((d) => d.namespace === target).slice(0, 20).map((d) => d.name)
    await expectTexts(page, fail, `datasets after selecting ${target}`, expected)
  }],
]

// ---------- main ----------
const only = opt('only', 'CHECK_ONLY', '')
const started = Date.now()
let D
try {
  D = await discover()
} catch (e) {
  console.error(`FAIL: cannot read prov9 at ${PROV9}: ${e.message}`)
  process.exit(2)
}
try {
  const r = await fetch(`${WEB}/healthcheck`)
  if (!r.ok) throw new Error(`status ${r.status}`)
} catch (e) {
  console.error(`FAIL: web UI not answering at ${WEB}/healthcheck: ${e.message}`)
  process.exit(2)
}
console.log(`prov9 ${PROV9}, web UI ${WEB}; job ${D.job.namespace}/${D.job.name}, dataset ${D.dataset.namespace}/${D.dataset.name}, column lineage on ${D.colDataset.namespace}/${D.colDataset.name}`)

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] })
try {
  for (const [name, fn] of checks) {
    if (only && !only.split(',').some((o) => name.includes(o))) continue
    await visit(browser, name, D, fn)
    const r = results[results.length - 1]
    const calls = r.api.map((a) => `${a.status} ${a.method} ${a.url}`)
    console.log(`\n${r.failures.length ? 'FAIL' : 'ok  '} ${name}  (${r.url})`)
    for (const c of calls) console.log(`       api ${c}`)
    for (const n of r.notes) console.log(`       note: ${n}`)
    for (const f of r.failures) console.log(`   !!  ${f}`)
  }
} finally {
  await browser.close()
}
fs.writeFileSync(path.join(OUT, 'report.json'), JSON.stringify({ prov9: PROV9, web: WEB, results }, null, 2))
const failed = results.filter((r) => r.failures.length)
console.log(`\n${results.length - failed.length}/${results.length} pages passed in ${((Date.now() - started) / 1000).toFixed(1)}s; screenshots and report.json in ${OUT}`)
if (failed.length) {
  console.log('\nFailures:')
  for (const r of failed) for (const f of r.failures) console.log(`  ${r.page}: ${f}`)
  process.exit(1)
}
