import type { KafkaContext } from '../../runtime/kafka.ts';

/** Sum of a group's committed offsets on a topic (0 where nothing is committed). */
export async function committedTotal(ctx: KafkaContext, groupId: string, topic: string): Promise<number> {
  const admin = ctx.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offs[0]!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

export async function endTotal(ctx: KafkaContext, topic: string): Promise<number> {
  const admin = ctx.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Messages a group has not committed yet over some topics (all partitions). */
export async function groupLag(ctx: KafkaContext, groupId: string, topics: string[]): Promise<number> {
  let lag = 0;
  for (const t of topics) lag += (await endTotal(ctx, t)) - (await committedTotal(ctx, groupId, t));
  return lag;
}
