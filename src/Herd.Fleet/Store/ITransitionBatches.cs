namespace Herd.Fleet.Store;

/// <summary>
/// Commits several state transitions as one transaction (issue #23: write amplification). Each transition still lands
/// whole or not at all, and in order, so a crash or <c>kill -9</c> leaves a prefix of the decisions committed — only
/// the pages a batch shares (the events log, index tails) are written once per batch instead of once per transition.
/// </summary>
public interface ITransitionBatches
{
    /// <summary>Runs <paramref name="transitions"/> — calls of this store's transition methods — inside one transaction, committed at the end.</summary>
    void InOneTransaction(Action transitions);
}
