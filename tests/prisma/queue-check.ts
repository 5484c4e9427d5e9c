// queue-check.ts - run the app's queue service on the migrated database
// and check what it does; exits non-zero, saying what differed, if
// anything is not as qsched's schema promises.
import assert from 'node:assert/strict'
import { PrismaPg } from '@prisma/adapter-pg'
import { Prisma, PrismaClient } from '@prisma/client'
import { QueueService } from './queue-service'

async function main(): Promise<void> {
  const prisma = new PrismaClient({ adapter: new PrismaPg({}) })
  const svc = new QueueService(prisma)
  try {
    const users = await prisma.userCallScore.findMany({
      where: { unsignedUsersQueue: { none: {} }, outstandingRequestsQueue: { none: {} } },
      orderBy: { userId: 'asc' }, take: 2,
    })
    assert.equal(users.length, 2, 'two users with no queue entry')
    const [u1, u2] = users.map((u) => u.userId)

    // addUserToQueue: the database fills id and the timestamps.
    const e1 = await svc.addUserToQueue('unsigned_users', u1, 0, 'New lead - Missing signature')
    assert.match(e1.id, /^[0-9a-f-]{36}$/)
    assert.equal(e1.status, 'pending')
    assert.equal(e1.userId, u1)
    const again = await svc.addUserToQueue('unsigned_users', u1)
    assert.equal(again.id, e1.id, 'a second add returns the live entry')

    // A second live entry for one user is refused by the partial unique
    // index the schema cannot declare: P2002.
    await assert.rejects(prisma.unsignedUsersQueue.create({
      data: { userId: u1, queuePosition: 99 },
    }), (e: unknown) => e instanceof Prisma.PrismaClientKnownRequestError &&
      e.code === 'P2002')
    // Not live: allowed beside the live one.
    await prisma.unsignedUsersQueue.create({
      data: { userId: u1, queuePosition: 100, status: 'completed' },
    })
    // The status CHECK holds for the client too.
    await assert.rejects(prisma.unsignedUsersQueue.create({
      data: { userId: u1, queuePosition: 101, status: 'bogus' },
    }))

    const got = await svc.getUserQueueEntry('unsigned_users', u1)
    assert.equal(got?.id, e1.id)
    const e2 = await svc.addUserToQueue('outstanding_requests', u2, 3)
    const e2row = await prisma.outstandingRequestsQueue.findUniqueOrThrow({ where: { id: e2.id } })
    assert.deepEqual(e2row.requirementTypes, ['document'])
    assert.equal(e2row.pendingRequirements, 1)

    // Claiming through queue_claim_next in an interactive transaction.
    const agent = await prisma.agent.create({
      data: { email: `agent-${process.pid}@example.com`, passwordHash: 'x',
        firstName: 'Test', lastName: 'Agent' },
    })
    const claimed = await svc.claimNext('unsigned_users', agent.id)
    assert.equal(claimed?.id, e1.id)
    assert.equal(claimed?.status, 'assigned')
    assert.equal(claimed?.assigned_to_agent, agent.id)
    const withRelations = await prisma.unsignedUsersQueue.findUniqueOrThrow({
      where: { id: e1.id }, include: { agent: true, user: true },
    })
    assert.equal(withRelations.agent?.email, agent.email)
    assert.equal(withRelations.user.userId, u1)
    assert.equal(await svc.claimNext('unsigned_users', agent.id), null,
      'nothing left to claim')
    assert.equal(await svc.removeUserFromQueue('unsigned_users', u1), 0,
      'an assigned entry stays with its agent')

    // A failure after the claim, in the same transaction, gives it back.
    await assert.rejects(svc.claimNext('outstanding_requests', agent.id, async () => {
      throw new Error('call could not be placed')
    }), /call could not be placed/)
    assert.equal((await svc.getUserQueueEntry('outstanding_requests', u2))?.status, 'pending')

    assert.equal(await svc.removeUserFromQueue('outstanding_requests', u2), 1)
    assert.equal(await svc.getUserQueueEntry('outstanding_requests', u2), null)

    // Deleting the agent sets assigned_to_agent NULL (onDelete: SetNull).
    await prisma.agent.delete({ where: { id: agent.id } })
    const orphaned = await prisma.unsignedUsersQueue.findUniqueOrThrow({ where: { id: e1.id } })
    assert.equal(orphaned.assignedToAgent, null)
    console.log('queue-check: ok')
  } finally {
    await prisma.$disconnect()
  }
}

main().catch((e) => {
  console.error('queue-check:', e)
  process.exit(1)
})
