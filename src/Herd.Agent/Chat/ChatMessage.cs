using System.Text.Json.Nodes;

namespace Herd.Agent.Chat;

/// <summary>Who said a message. Tool results travel in user messages, as in the Messages API and Claude Code's transcripts.</summary>
public enum ChatRole
{
    User,
    Assistant,
}

/// <summary>
/// One piece of a message, in no provider's wire format. Each provider adapter owns its translation
/// (<see cref="Models.AnthropicWire"/>, <see cref="Models.OpenAiWire"/>).
/// </summary>
public abstract record ContentBlock;

public sealed record TextBlock(string Text) : ContentBlock;

/// <summary>A tool call the model made. The input is JSON in every provider (OpenAI sends it as a JSON string).</summary>
public sealed record ToolUseBlock(string Id, string Name, JsonNode Input) : ContentBlock;

/// <summary>The answer to a <see cref="ToolUseBlock"/>. Herd's tools answer in text.</summary>
public sealed record ToolResultBlock(string ToolUseId, string Content, bool IsError) : ContentBlock;

/// <summary>Extended thinking; the signature lets Anthropic verify it when it is sent back.</summary>
public sealed record ThinkingBlock(string Thinking, string? Signature) : ContentBlock;

/// <summary>
/// A block only one provider understands (an image, redacted thinking, a server tool call), kept verbatim so a resumed
/// conversation sends it back unchanged to that provider. Other providers skip it.
/// </summary>
public sealed record ProviderBlock(string Provider, JsonObject Raw) : ContentBlock;

/// <summary>One message of a conversation.</summary>
public sealed record ChatMessage(ChatRole Role, IReadOnlyList<ContentBlock> Content)
{
    public static ChatMessage User(params ContentBlock[] content) => new(ChatRole.User, content);

    public static ChatMessage Assistant(params ContentBlock[] content) => new(ChatRole.Assistant, content);

    /// <summary>Value equality over the blocks (a record's default compares the list by reference).</summary>
    public bool Equals(ChatMessage? other) => other is not null && Role == other.Role && Content.SequenceEqual(other.Content, BlockComparer.Instance);

    public override int GetHashCode() => HashCode.Combine(Role, Content.Count);

    /// <summary>Blocks holding JSON compare by their JSON text: JsonNode has no value equality.</summary>
    private sealed class BlockComparer : IEqualityComparer<ContentBlock>
    {
        public static BlockComparer Instance { get; } = new();

        public bool Equals(ContentBlock? x, ContentBlock? y) => (x, y) switch
        {
            (ToolUseBlock a, ToolUseBlock b) => a.Id == b.Id && a.Name == b.Name && JsonNode.DeepEquals(a.Input, b.Input),
            (ProviderBlock a, ProviderBlock b) => a.Provider == b.Provider && JsonNode.DeepEquals(a.Raw, b.Raw),
            _ => x?.Equals(y) ?? y is null,
        };

        public int GetHashCode(ContentBlock obj) => obj.GetType().GetHashCode();
    }
}

/// <summary>A tool the model is offered: its name, what it does, and the JSON Schema of its input.</summary>
public sealed record ToolSpec(string Name, string Description, JsonNode InputSchema);

/// <summary>
/// The tools of a session's requests. Thousands of sessions of a fan-out share one set, so each provider's wire form of
/// it (the largest part of every request body) is written once per process and kept here. Nobody may modify the specs.
/// </summary>
public sealed class ToolSet(IReadOnlyList<ToolSpec> tools)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _wire = new(StringComparer.Ordinal);

    public static ToolSet Empty { get; } = new([]);

    public IReadOnlyList<ToolSpec> Tools { get; } = tools;

    /// <summary>The tools in one provider's wire format (a UTF-8 JSON array), written on first use.</summary>
    public byte[] WireFormat(string provider, Func<IReadOnlyList<ToolSpec>, byte[]> write) => _wire.GetOrAdd(provider, _ => write(Tools));
}
