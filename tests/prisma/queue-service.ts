// queue-service.ts - the app's queue service (plan step 5.2) written
// against a client generated from qsched's schema.prisma: typed model
// access, no `(this.prisma as any)`.  tests/pg_prisma.sh type-checks it
// with tsc --strict and runs it through queue-check.ts.
import { Prisma, PrismaClient } from '@prisma/client'

export type QueueName = 'unsigned_users' | 'outstanding_requests'

// A row of queue_claim_next() (sql/migrations/0006_queue_functions.sql).
export interface ClaimedEntry {
  queue: string
  id: string
  user_id: bigint
  status: string
  assigned_to_agent: number | null
  assigned_at: Date | null
  queue_position: number
}

export interface QueueEntry {
  id: string
  userId: bigint
  status: string
  queuePosition: number
  priorityScore: number
  queueReason: string | null
  availableFrom: Date
  assignedToAgent: number | null
}

const LIVE = ['pending', 'assigned']

export class QueueService {
  constructor(private readonly prisma: PrismaClient) {}

  // A pending entry for the user, or the live one the user already has
  // (the partial unique index refuses a second: P2002).
  async addUserToQueue(queue: QueueName, userId: bigint, priorityScore = 0,
      queueReason: string | null = null): Promise<QueueEntry> {
    const position = await this.nextPosition(queue)
    try {
      if (queue === 'unsigned_users')
        return await this.prisma.unsignedUsersQueue.create({
          data: { userId, priorityScore, queuePosition: position, queueReason,
            signatureType: 'initial' },
        })
      return await this.prisma.outstandingRequestsQueue.create({
        data: { userId, priorityScore, queuePosition: position, queueReason,
          requirementTypes: ['document'], totalRequirements: 1,
          pendingRequirements: 1 },
      })
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        const live = await this.getUserQueueEntry(queue, userId)
        if (live !== null)
          return live
      }
      throw e
    }
  }

  // Only a pending entry: an assigned one belongs to its agent.
  async removeUserFromQueue(queue: QueueName, userId: bigint): Promise<number> {
    const where = { userId, status: 'pending' }
    const { count } = queue === 'unsigned_users'
      ? await this.prisma.unsignedUsersQueue.deleteMany({ where })
      : await this.prisma.outstandingRequestsQueue.deleteMany({ where })
    return count
  }

  async getUserQueueEntry(queue: QueueName, userId: bigint): Promise<QueueEntry | null> {
    const where = { userId, status: { in: LIVE } }
    return queue === 'unsigned_users'
      ? this.prisma.unsignedUsersQueue.findFirst({ where })
      : this.prisma.outstandingRequestsQueue.findFirst({ where })
  }

  // The next available entry for the agent, claimed atomically by
  // queue_claim_next(); the caller's follow-up runs in the same
  // transaction, so a failure there gives the entry back.
  async claimNext(queue: QueueName, agentId: number,
      then?: (tx: Prisma.TransactionClient, entry: ClaimedEntry) => Promise<void>):
      Promise<ClaimedEntry | null> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<ClaimedEntry[]>`
        SELECT * FROM queue_claim_next(${queue}, ${agentId})`
      const entry = rows[0] ?? null
      if (entry !== null && then !== undefined)
        await then(tx, entry)
      return entry
    })
  }

  private async nextPosition(queue: QueueName): Promise<number> {
    const where = { status: 'pending' }
    const agg = queue === 'unsigned_users'
      ? await this.prisma.unsignedUsersQueue.aggregate({ where, _max: { queuePosition: true } })
      : await this.prisma.outstandingRequestsQueue.aggregate({ where, _max: { queuePosition: true } })
    return (agg._max.queuePosition ?? 0) + 1
  }
}
