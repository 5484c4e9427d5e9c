// prisma.config.ts - how tests/pg_prisma.sh runs the Prisma 6.19.3 CLI
// offline: the WASM schema engine through @prisma/adapter-pg, connected
// with the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE) the
// test harness sets.  The schema and the migrations folder are the ones
// qsched installs (QSCHED_PRISMA_SCHEMA, QSCHED_PRISMA_MIGRATIONS).
//
// Three workarounds, each needed for the CLI to run at all here (see
// README.md beside this file):
//   1. adapter-pg refuses result columns of the catalog types "char"
//      (oid 18) and name (oid 19), which the schema engine's describer
//      queries return (prisma/orm#27403): they are reported as text.
//   2. The engine then panics ("RuntimeError: unreachable") on the CHECK
//      rows of its constraint query (prisma/orm#29635): the query is
//      narrowed to leave CHECK constraints out.  Prisma never creates,
//      changes or drops CHECK constraints, so it loses nothing.
//   3. The engine leaves its 10 s lock and 60 s operation timers pending
//      after the command is done, so the CLI exits only a minute later:
//      timers of 10 s or more do not keep the process alive.
import { defineConfig } from 'prisma/config'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'

const TEXT_OID = 25
const CATALOG_OIDS = new Set([18, 19])
const CONSTRAINT_FILTER = "contype NOT IN ('p', 'u', 'f')"
const WITHOUT_CHECKS = "contype NOT IN ('p', 'u', 'f', 'c')"

function catalogAsText(res: any): any {
  for (const r of Array.isArray(res) ? res : [res])
    for (const f of r?.fields ?? [])
      if (CATALOG_OIDS.has(f.dataTypeID)) f.dataTypeID = TEXT_OID
  return res
}

function withoutChecks(config: any): any {
  const text = typeof config === 'string' ? config : config?.text
  if (typeof text !== 'string' || !text.includes(CONSTRAINT_FILTER))
    return config
  const narrowed = text.replace(CONSTRAINT_FILTER, WITHOUT_CHECKS)
  return typeof config === 'string' ? narrowed : { ...config, text: narrowed }
}

// pg.Pool calls query() with a callback, adapter-pg's transactions
// without one: both are handled.
class CatalogClient extends pg.Client {
  query(config: any, values?: any, callback?: any): any {
    if (typeof values === 'function') {
      callback = values
      values = undefined
    }
    config = withoutChecks(config)
    if (typeof callback === 'function')
      return super.query(config, values, (err: any, res: any) =>
        callback(err, err ? res : catalogAsText(res)))
    return (super.query(config, values) as any).then(catalogAsText)
  }
}

const setTimeoutOrig = globalThis.setTimeout
;(globalThis as any).setTimeout = (fn: any, ms?: number, ...args: any[]) => {
  const t: any = setTimeoutOrig(fn, ms, ...args)
  if ((ms ?? 0) >= 10000) t.unref()
  return t
}

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: process.env.QSCHED_PRISMA_SCHEMA,
  migrations: { path: process.env.QSCHED_PRISMA_MIGRATIONS },
  async adapter() {
    return new PrismaPg({ Client: CatalogClient, allowExitOnIdle: true } as any)
  },
})
