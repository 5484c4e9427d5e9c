// compare-models.mjs SHIPPED PULLED MODEL... - do the models agree?
//
// PULLED is `prisma db pull --print` run with SHIPPED as the schema to
// re-introspect, so it keeps the shipped model and field names and says
// what the database really has.  Each MODEL is compared field by field
// (name, type, attributes in any order) and by its block attributes
// (@@index, @@map, ...); comments and layout are ignored.  Prints every
// difference and exits 1 if there is one.
import { readFileSync } from 'node:fs'

// The attributes of a line: "@x", "@x(...)", "@@x(...)", parentheses and
// strings balanced.
function attributes(s) {
  const out = []
  let i = 0
  while ((i = s.indexOf('@', i)) !== -1) {
    let j = i
    while (j < s.length && /[@\w.]/.test(s[j])) j++
    if (s[j] === '(') {
      let depth = 0, quoted = false
      for (; j < s.length; j++) {
        const c = s[j]
        if (quoted) {
          if (c === '\\') j++
          else if (c === '"') quoted = false
        } else if (c === '"') quoted = true
        else if (c === '(') depth++
        else if (c === ')' && --depth === 0) { j++; break }
      }
    }
    out.push(s.slice(i, j).replace(/\s+/g, ''))
    i = j
  }
  return out.sort()
}

// Prisma's referential actions by default, which introspection leaves
// out: onUpdate Cascade, onDelete SetNull (optional) or Restrict.
function relationDefaults(attr, optional) {
  if (!attr.startsWith('@relation(')) return attr
  return attr.replace(/,onUpdate:Cascade(?=[,)])/, '')
    .replace(optional ? /,onDelete:SetNull(?=[,)])/ : /,onDelete:Restrict(?=[,)])/, '')
}

function stripComment(line) {
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== '\\') quoted = !quoted
    if (!quoted && line.startsWith('//', i)) return line.slice(0, i)
  }
  return line
}

function models(file) {
  const text = readFileSync(file, 'utf8')
  const found = new Map()
  const re = /^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm
  let m
  while ((m = re.exec(text)) !== null) {
    const fields = new Map()
    const block = []
    for (const raw of m[2].split('\n')) {
      const line = stripComment(raw).trim()
      if (line === '') continue
      if (line.startsWith('@@')) { block.push(...attributes(line)); continue }
      const [name, type] = line.split(/\s+/)
      const attrs = attributes(line.slice(line.indexOf(type) + type.length))
        .map((a) => relationDefaults(a, type.endsWith('?')))
      fields.set(name, `${type} ${attrs.join(' ')}`.trim())
    }
    found.set(m[1], { fields, block: block.sort() })
  }
  return found
}

const [shippedFile, pulledFile, ...names] = process.argv.slice(2)
const shipped = models(shippedFile), pulled = models(pulledFile)
let differences = 0
const say = (msg) => { console.log(msg); differences++ }
for (const name of names) {
  const a = shipped.get(name), b = pulled.get(name)
  if (!a || !b) { say(`model ${name}: ${!a ? 'not in the shipped schema' : 'not in the database'}`); continue }
  for (const [f, def] of a.fields)
    if (!b.fields.has(f)) say(`${name}.${f}: shipped as "${def}", not in the database`)
    else if (b.fields.get(f) !== def) say(`${name}.${f}: shipped "${def}", database "${b.fields.get(f)}"`)
  for (const [f, def] of b.fields)
    if (!a.fields.has(f)) say(`${name}.${f}: in the database as "${def}", not in the shipped model`)
  for (const x of a.block) if (!b.block.includes(x)) say(`${name}: shipped ${x}, not in the database`)
  for (const x of b.block) if (!a.block.includes(x)) say(`${name}: database has ${x}, not the shipped model`)
}
if (differences > 0) {
  console.log(`compare-models: ${differences} differences between ${shippedFile} and the database`)
  process.exit(1)
}
console.log(`compare-models: ${names.join(', ')} agree with the database`)
