using Herd.Agent;
using Herd.Fleet.Engines;
using Herd.Fleet.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Herd.Fleet.Tests;

public sealed class SchedulingTests
{
    [Fact]
    public void Aimd_decreases_by_the_spec_formula_at_most_once_per_10_seconds()
    {
        var time = new FakeTimeProvider();
        var limiter = ConcurrencyLimiter.Auto(max: 64, initial: 40, time);

        limiter.OnBackPressure(429).ShouldBeTrue();
        limiter.Limit.ShouldBe(36); // min(39, floor(0.9*40)) = 36
        limiter.OnBackPressure(529).ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(9.9));
        limiter.OnBackPressure(429).ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(0.2));
        limiter.OnBackPressure(429).ShouldBeTrue();
        limiter.Limit.ShouldBe(32);
    }

    [Fact]
    public void Aimd_small_limits_drop_by_one_and_never_below_one()
    {
        var time = new FakeTimeProvider();
        var limiter = ConcurrencyLimiter.Auto(max: 8, initial: 3, time);
        for (var i = 0; i < 5; i++)
        {
            limiter.OnBackPressure(429);
            time.Advance(TimeSpan.FromSeconds(11));
        }
        limiter.Limit.ShouldBe(1);
    }

    [Fact]
    public void Aimd_grows_on_success_only_while_the_limit_is_in_use_and_not_past_max()
    {
        var limiter = ConcurrencyLimiter.Auto(max: 6, initial: 4, new FakeTimeProvider());

        limiter.OnSuccess(inflight: 1).ShouldBeFalse(); // 1*2 < 4: the limit is not what holds us back
        limiter.OnSuccess(inflight: 2).ShouldBeTrue();
        limiter.OnSuccess(inflight: 3).ShouldBeTrue();
        limiter.OnSuccess(inflight: 6).ShouldBeFalse();
        limiter.Limit.ShouldBe(6);
    }

    [Fact]
    public void A_fixed_limit_ignores_back_pressure_and_success()
    {
        var limiter = ConcurrencyLimiter.Fixed(8, new FakeTimeProvider());
        limiter.OnBackPressure(429).ShouldBeFalse();
        limiter.OnSuccess(8).ShouldBeFalse();
        limiter.Limit.ShouldBe(8);
    }

    [Fact]
    public void Backoff_honours_retry_after_and_otherwise_uses_full_jitter_under_the_cap()
    {
        var policy = new RetryPolicy { BaseDelay = TimeSpan.FromSeconds(2), MaxDelay = TimeSpan.FromSeconds(60), Random = new Random(1) };

        policy.Delay(1, TimeSpan.FromSeconds(7)).ShouldBe(TimeSpan.FromSeconds(7));
        policy.Delay(1, TimeSpan.FromMinutes(10)).ShouldBe(TimeSpan.FromSeconds(60));
        for (var n = 1; n < 12; n++)
        {
            var d = policy.Delay(n, null);
            d.ShouldBeGreaterThanOrEqualTo(TimeSpan.Zero);
            d.TotalSeconds.ShouldBeLessThanOrEqualTo(Math.Min(60, 2 * Math.Pow(2, n - 1)));
        }
    }

    [Theory]
    [InlineData(OutcomeClass.RateLimited, 0, 1, true)]
    [InlineData(OutcomeClass.RateLimited, 3, 4, false)] // --retries 3 used up
    [InlineData(OutcomeClass.Overloaded, 2, 3, true)]
    [InlineData(OutcomeClass.Crash, 0, 1, true)]
    [InlineData(OutcomeClass.Crash, 1, 2, false)] // crash: one retry
    [InlineData(OutcomeClass.NoStructuredOutput, 1, 2, false)]
    [InlineData(OutcomeClass.Timeout, 2, 3, false)] // repeat breaker
    [InlineData(OutcomeClass.Denied, 0, 1, false)]
    [InlineData(OutcomeClass.MaxTurns, 0, 1, false)]
    [InlineData(OutcomeClass.Auth, 0, 1, false)]
    [InlineData(OutcomeClass.SpendCap, 0, 1, false)]
    public void Retry_decisions_follow_the_classifier_table(OutcomeClass cls, int retriesSoFar, int sameClass, bool retry) =>
        new RetryPolicy { MaxRetries = 3 }.ShouldRetry(cls, retriesSoFar, sameClass).ShouldBe(retry);

    [Fact]
    public void Halt_policies_parse_and_trigger_on_counts_and_percentages()
    {
        var count = HaltPolicy.Parse("soon,fail=3");
        count.Check(10, 2, 100).ShouldBe(HaltMode.None);
        count.Check(10, 3, 100).ShouldBe(HaltMode.Soon);

        var pct = HaltPolicy.Parse("now,fail=20%");
        pct.Check(0, 2, 100).ShouldBe(HaltMode.None); // fewer than --halt-min finished
        pct.Check(7, 3, 100).ShouldBe(HaltMode.Now);
        pct.Check(9, 1, 100).ShouldBe(HaltMode.None);

        HaltPolicy.Parse("soon,success=50%").Check(6, 4, 10).ShouldBe(HaltMode.Soon);
        HaltPolicy.Parse("now,done=5").Check(2, 3, 10).ShouldBe(HaltMode.Now);
        Should.Throw<HerdUsageException>(() => HaltPolicy.Parse("later,fail=1"));
        Should.Throw<HerdUsageException>(() => HaltPolicy.Parse("soon,fail=150%"));
    }

    [Fact]
    public void The_retry_budget_holds_retries_to_20_percent_of_first_attempts_in_a_window()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(time, ratio: 0.2, floor: 2);
        for (var i = 0; i < 20; i++)
            budget.OnFirstAttempt();
        for (var i = 0; i < 4; i++)
        {
            budget.CanRetry().ShouldBeTrue();
            budget.OnRetry();
        }
        budget.CanRetry().ShouldBeFalse();
        time.Advance(TimeSpan.FromMinutes(5));
        budget.CanRetry().ShouldBeTrue(); // the window slid past; floor applies again
    }

    [Fact]
    public void The_retry_budget_counts_a_window_of_a_million_first_attempts_in_memory_that_does_not_grow()
    {
        // Given a million first attempts over four minutes (0 ms latency), then retries, then a window later
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(time, ratio: 0.2, floor: 2);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000_000; i++)
        {
            budget.OnFirstAttempt();
            if (i % 4_000 == 0)
                time.Advance(TimeSpan.FromSeconds(1));
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Then they are counted (200 000 retries allowed, not one more), in counters rather than a timestamp each
        for (var i = 0; i < 200_000; i++)
            budget.OnRetry();
        budget.CanRetry().ShouldBeFalse();
        allocated.ShouldBeLessThan(64 * 1024, "the budget keeps something per attempt");
        // And five minutes after the last of them, the floor applies again
        time.Advance(TimeSpan.FromMinutes(5));
        budget.CanRetry().ShouldBeTrue();
    }
}
