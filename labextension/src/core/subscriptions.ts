/**
 * Reference counts of feed subscriptions per (cluster, topic): a topic is subscribed on
 * the wire when its first user arrives and unsubscribed when its last one leaves.
 */
export interface SubscriptionChange {
  cluster: string;
  topics: string[];
}

/** Counts users per (cluster, topic). */
export class SubscriptionCounter {
  private counts = new Map<string, Map<string, number>>();

  /** Counts one more user of each topic; returns the topics that became live (to send "subscribe"). */
  acquire(cluster: string, topics: string[]): string[] {
    let perCluster = this.counts.get(cluster);
    if (!perCluster) {
      perCluster = new Map();
      this.counts.set(cluster, perCluster);
    }
    const added: string[] = [];
    for (const topic of topics) {
      const n = perCluster.get(topic) ?? 0;
      perCluster.set(topic, n + 1);
      if (n === 0) {
        added.push(topic);
      }
    }
    return added;
  }

  /** Counts one user less of each topic; returns the topics no one uses any more (to send "unsubscribe"). */
  release(cluster: string, topics: string[]): string[] {
    const perCluster = this.counts.get(cluster);
    if (!perCluster) {
      return [];
    }
    const removed: string[] = [];
    for (const topic of topics) {
      const n = perCluster.get(topic) ?? 0;
      if (n <= 0) {
        continue;
      }
      if (n === 1) {
        perCluster.delete(topic);
        removed.push(topic);
      } else {
        perCluster.set(topic, n - 1);
      }
    }
    if (perCluster.size === 0) {
      this.counts.delete(cluster);
    }
    return removed;
  }

  /** Forgets every subscription of a cluster (it is gone); returns the topics that were live. */
  drop(cluster: string): string[] {
    const perCluster = this.counts.get(cluster);
    this.counts.delete(cluster);
    return perCluster ? [...perCluster.keys()] : [];
  }

  /** How many users a topic has. */
  count(cluster: string, topic: string): number {
    return this.counts.get(cluster)?.get(topic) ?? 0;
  }

  /** Everything live, to resubscribe after a reconnect. */
  live(): SubscriptionChange[] {
    return [...this.counts.entries()].map(([cluster, topics]) => ({ cluster, topics: [...topics.keys()] }));
  }
}
