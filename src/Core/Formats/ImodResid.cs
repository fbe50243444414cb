namespace Tomalign.Core.Formats;

/// <summary>One observation of a tiltalign .resid file.</summary>
/// <param name="Landmark">0-based landmark (bead) number, in file order.</param>
/// <param name="X">Measured X in the (prealigned) stack, pixels.</param>
/// <param name="Y">Measured Y, pixels.</param>
/// <param name="View">0-based view.</param>
/// <param name="ResidualX">tiltalign's residual, projected − measured, X.</param>
/// <param name="ResidualY">Same, Y.</param>
public readonly record struct ImodResidual(int Landmark, double X, double Y, int View, double ResidualX, double ResidualY)
{
    /// <summary>Where the solved model projects the landmark: measured + residual.</summary>
    public (double X, double Y) Projected => (X + ResidualX, Y + ResidualY);
}

/// <summary>
/// Reader for IMOD tiltalign's residual file (.resid): a first line with the count
/// ("  1403 residuals"), then one observation a line, <c>X Y view resX resY</c>, view 0-based.
/// Landmarks are not numbered in the file: a new one starts where the view number does not
/// increase (tiltalign writes each bead's points in view order). So two beads where the second
/// starts at a higher view than the first ends cannot be told apart; that is the format.
/// </summary>
public static class ImodResid
{
    private const string Fix = "the file must start with the count, then hold 'X Y view resX resY' a line, as tiltalign writes it";

    public static ImodResidual[] Read(string path)
    {
        string[] lines = ImodText.ReadLines(path);
        int first = Array.FindIndex(lines, l => !string.IsNullOrWhiteSpace(l));
        if (first < 0) throw new TomalignInputException(path, "the file is empty", Fix);
        string[] head = ImodText.Split(lines[first]);
        int declared = ImodText.ParseInt(path, first + 1, head[0], Fix);

        var obs = new List<ImodResidual>(Math.Max(0, declared));
        int landmark = -1, prevView = int.MaxValue;
        for (int i = first + 1; i < lines.Length; i++)
        {
            string[] f = ImodText.Split(lines[i]);
            if (f.Length == 0) continue;
            if (f.Length != 5)
                throw new TomalignInputException(path, $"line {i + 1} holds {f.Length} values, not 5: '{ImodText.Clip(lines[i])}'", Fix);
            double x = ImodText.ParseFinite(path, i + 1, f[0], Fix), y = ImodText.ParseFinite(path, i + 1, f[1], Fix);
            int view = ImodText.ParseInt(path, i + 1, f[2], Fix);
            if (view < 0) throw new TomalignInputException(path, $"line {i + 1} has a negative view number {view}", Fix);
            double rx = ImodText.ParseFinite(path, i + 1, f[3], Fix), ry = ImodText.ParseFinite(path, i + 1, f[4], Fix);
            if (view <= prevView) landmark++;
            prevView = view;
            obs.Add(new ImodResidual(landmark, x, y, view, rx, ry));
        }
        if (obs.Count != declared)
            throw new TomalignInputException(path, $"the first line announces {declared} residuals but the file holds {obs.Count}",
                "the file is truncated or edited; write it again with tiltalign");
        return obs.ToArray();
    }
}
