namespace Herd.Fleet.Jobs;

/// <summary>
/// A sequence of input lines read once, whose first line is read ahead so a run can tell "no inputs" before it writes
/// anything (issue #23: the lines themselves are not held).
/// </summary>
public sealed class PeekedLines : IDisposable
{
    private readonly IEnumerator<string> _lines;
    private bool _read;

    public PeekedLines(IEnumerable<string> lines)
    {
        _lines = lines.GetEnumerator();
        Any = _lines.MoveNext();
    }

    /// <value>There is at least one line.</value>
    public bool Any { get; }

    /// <summary>Every line, the one read ahead first.</summary>
    /// <exception cref="InvalidOperationException">Read a second time.</exception>
    public IEnumerable<string> ReadOnce()
    {
        if (_read)
            throw new InvalidOperationException("input lines are read once");
        _read = true;
        return Lines();
    }

    private IEnumerable<string> Lines()
    {
        if (!Any)
            yield break;
        do
            yield return _lines.Current;
        while (_lines.MoveNext());
    }

    public void Dispose() => _lines.Dispose();
}
