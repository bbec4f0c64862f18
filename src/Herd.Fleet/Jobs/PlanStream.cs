using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Herd.Fleet.Engines;

namespace Herd.Fleet.Jobs;

/// <summary>
/// A plan produced one task at a time as its inputs are read (issue #23): each input is rendered, keyed and handed on,
/// so a run stores its plan in one pass without a list of tasks in memory. Identical keys collapse into the first task
/// with a warning (spec §3); for that, and for the plan's identity, the stream keeps the keys in <see cref="PlanKeys"/>
/// (a bounded batch in memory, the rest in a temporary file). Read <see cref="Tasks"/> once.
/// </summary>
/// <param name="behaviour">The options that change the agent's behaviour (model, system prompt, tools, rules, schema, max turns).</param>
/// <param name="warn">Receives one message per collapsed duplicate.</param>
public sealed class PlanStream(IEnumerable<TaskInput> inputs, string? template, string engine, JsonObject behaviour, Action<string> warn)
{
    private readonly byte[] _canonicalBehaviour = TaskKey.Canonical(behaviour);
    private PlanKeys? _keys = new();
    private bool _read;

    /// <value>Distinct tasks produced so far.</value>
    public int Count { get; private set; }

    /// <summary>The plan's tasks in input order, duplicates left out.</summary>
    /// <exception cref="InvalidOperationException">Read a second time.</exception>
    public IEnumerable<FleetTask> Tasks()
    {
        if (_read)
            throw new InvalidOperationException("a plan stream is read once");
        _read = true;
        return Produce();
    }

    private IEnumerable<FleetTask> Produce()
    {
        var seq = 0;
        foreach (var input in inputs)
        {
            seq++;
            var prompt = Template.Render(input.PromptTemplate ?? template ?? "{}", input, seq, slot: null);
            var options = _canonicalBehaviour;
            if (input.Caps.MaxTurns is { } turns)
            {
                var own = (JsonObject)behaviour.DeepClone();
                own["max_turns"] = turns;
                options = TaskKey.Canonical(own);
            }
            var key = TaskKey.Compute(input.Caps.Engine?.Name() ?? engine, prompt, input.Values, input.Named, options);
            var name = input.Name ?? (input.Values.Count > 0 ? Template.InputText(input) : $"task-{seq}");
            if (_keys!.TryAdd(KeyBits.Of(key), seq) is { } first)
            {
                warn($"herd: warning: task {seq} ({input.Name ?? Template.InputText(input)}) is identical to task {first}; it runs once.");
                continue;
            }
            Count++;
            yield return new FleetTask(seq, key, name, prompt, input.Values, input.Named, input.Caps);
        }
    }

    /// <summary>
    /// The whole plan's identity once <see cref="Tasks"/> has been read to its end: the same hash as
    /// <see cref="Runs.PlanIdentity.Of"/> over the same tasks (sorted keys and the shared options). Frees the keys.
    /// </summary>
    public string IdentityHash()
    {
        var keys = _keys ?? throw new InvalidOperationException("the identity is taken once");
        _keys = null;
        using (keys)
            return keys.IdentityHash(_canonicalBehaviour);
    }
}
