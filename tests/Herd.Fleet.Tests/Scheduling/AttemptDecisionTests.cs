using Herd.Fleet.Engines;
using Herd.Fleet.Runs;
using Herd.Fleet.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests;

/// <summary>The one attempt lifecycle decision every scheduler asks (issue #18), on a fake clock and a seeded random source.</summary>
public sealed class AttemptDecisionTests
{
    private static readonly FakeTimeProvider Clock = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));

    private static TaskOutcome Ended(OutcomeClass cls, TimeSpan? retryAfter = null, string? error = null) => new()
    {
        Class = cls, Start = Clock.GetUtcNow(), End = Clock.GetUtcNow(), SessionId = "s", RetryAfter = retryAfter, Error = error,
    };

    private static Schedule Schedule(int retries = 3, HaltPolicy? halt = null) => new()
    {
        Retry = new RetryPolicy { MaxRetries = retries, Random = new Random(7) },
        Halt = halt ?? HaltPolicy.Never,
    };

    [Theory]
    [InlineData(OutcomeClass.Cancelled)]
    [InlineData(OutcomeClass.Interrupted)]
    [InlineData(OutcomeClass.RunBudget)]
    public void An_attempt_that_is_no_verdict_on_its_task_is_requeued_even_while_the_run_stops(OutcomeClass cls)
    {
        AttemptDecision.Decide(Ended(cls), new TaskHistory(3, 2), Schedule(), stopping: true, Clock.GetUtcNow())
            .ShouldBeOfType<AttemptVerdict.Requeue>();
    }

    [Fact]
    public void A_retryable_failure_is_retried_at_its_retry_after_from_the_clock_reading()
    {
        // Given a rate-limited attempt whose server asked for 7 s
        var verdict = AttemptDecision.Decide(Ended(OutcomeClass.RateLimited, TimeSpan.FromSeconds(7)), new TaskHistory(1, 1), Schedule(), stopping: false, Clock.GetUtcNow());

        // Then it is the task's second retry, due 7 s from now
        var retry = verdict.ShouldBeOfType<AttemptVerdict.Retry>();
        retry.RetryNumber.ShouldBe(2);
        retry.At.ShouldBe(Clock.GetUtcNow() + TimeSpan.FromSeconds(7));
    }

    [Fact]
    public void A_retry_without_retry_after_waits_within_the_exponential_ceiling()
    {
        var verdict = AttemptDecision.Decide(Ended(OutcomeClass.ServerError), new TaskHistory(2, 0), Schedule(), stopping: false, Clock.GetUtcNow());

        var retry = verdict.ShouldBeOfType<AttemptVerdict.Retry>();
        (retry.At - Clock.GetUtcNow()).ShouldBeInRange(TimeSpan.Zero, TimeSpan.FromSeconds(8)); // third retry: rand(0, 2 s · 2²)
    }

    [Fact]
    public void A_failure_is_final_once_the_retries_are_used_up_or_while_the_run_stops()
    {
        AttemptDecision.Decide(Ended(OutcomeClass.Timeout), new TaskHistory(3, 0), Schedule(retries: 3), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
        AttemptDecision.Decide(Ended(OutcomeClass.Timeout), new TaskHistory(0, 0), Schedule(), stopping: true, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
    }

    [Fact]
    public void The_repeat_breaker_and_per_class_limits_count_the_earlier_attempts_of_the_same_class()
    {
        // A crash is retried once: the second crash is final.
        AttemptDecision.Decide(Ended(OutcomeClass.Crash), new TaskHistory(0, 0), Schedule(), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Retry>();
        AttemptDecision.Decide(Ended(OutcomeClass.Crash), new TaskHistory(1, 1), Schedule(), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
        // A third timeout of the same task trips the repeat breaker; a third overload does not (it is transient).
        AttemptDecision.Decide(Ended(OutcomeClass.Timeout), new TaskHistory(2, 2), Schedule(retries: 9), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
        AttemptDecision.Decide(Ended(OutcomeClass.Overloaded), new TaskHistory(2, 2), Schedule(retries: 9), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Retry>();
    }

    [Fact]
    public void Success_and_task_failures_that_are_not_retryable_are_final()
    {
        AttemptDecision.Decide(Ended(OutcomeClass.Success), default, Schedule(), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
        AttemptDecision.Decide(Ended(OutcomeClass.MaxTurns), default, Schedule(), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
    }

    [Fact]
    public void A_run_fatal_class_is_final_at_once_and_halts_the_run_now_with_exit_103()
    {
        var outcome = Ended(OutcomeClass.Auth, error: "invalid x-api-key");

        AttemptDecision.Decide(outcome, default, Schedule(), false, Clock.GetUtcNow()).ShouldBeOfType<AttemptVerdict.Final>();
        var halt = AttemptDecision.HaltAfterFinal(outcome, 4, 1, 10, HaltPolicy.Never).ShouldNotBeNull();
        halt.ShouldBe(new HaltVerdict(HaltReason.Fatal, HaltMode.Now, "auth: invalid x-api-key", RunExitCodes.Fatal));
    }

    [Fact]
    public void The_halt_policy_is_checked_on_the_final_counts_and_its_exit_code_is_the_failed_count()
    {
        var policy = HaltPolicy.Parse("soon,fail=2");

        AttemptDecision.HaltAfterFinal(Ended(OutcomeClass.MaxTurns), 3, 1, 10, policy).ShouldBeNull();
        var halt = AttemptDecision.HaltAfterFinal(Ended(OutcomeClass.MaxTurns), 3, 2, 10, policy).ShouldNotBeNull();
        halt.ShouldBe(new HaltVerdict(HaltReason.Policy, HaltMode.Soon, "--halt soon,fail=2 reached (3 succeeded, 2 failed)", 2));
    }

    [Fact]
    public void A_budget_refusal_waits_while_other_attempts_hold_reservations_and_halts_soon_when_none_do()
    {
        AttemptDecision.AfterBudgetRefusal(reservationsHeld: true, 1.5).ShouldBeNull();
        AttemptDecision.AfterBudgetRefusal(reservationsHeld: false, 1.5)
            .ShouldBe(new HaltVerdict(HaltReason.Budget, HaltMode.Soon, "budget: the --budget-usd ceiling $1.5 cannot hold another call", RunExitCodes.Budget));
    }
}
