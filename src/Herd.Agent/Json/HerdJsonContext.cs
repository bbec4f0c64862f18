using System.Text.Json;
using System.Text.Json.Serialization;
using Herd.Agent.Models;

namespace Herd.Agent.Json;

/// <summary>Source-generated serialization for Herd's typed data files (AOT-clean: no reflection).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PriceTableFile))]
internal sealed partial class HerdJsonContext : JsonSerializerContext;
