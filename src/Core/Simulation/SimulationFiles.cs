using System.Globalization;
using System.Text;
using Tomalign.Core.Formats;
using Tomalign.Core.IO;

namespace Tomalign.Core.Simulation;

/// <summary>The paths <see cref="SimulationFiles.Write"/> produced.</summary>
public sealed record SimulationFileSet(string Stack, string RawTilt, string Tilt, string Xf, string Beads, string Truth)
{
    public IReadOnlyList<string> All => [Stack, RawTilt, Tilt, Xf, Beads, Truth];
}

/// <summary>
/// Writes a simulated series and its truth: NAME.mrc (raw stack, mode 2), NAME.rawtlt (nominal tilts), and the
/// truth under names of its own, NAME.truth.tlt (true tilts), NAME.truth.xf (raw → aligned, exact),
/// NAME.beads.txt (3-D bead positions, specimen frame) and NAME.truth.json (every parameter). NAME.xf and
/// NAME.tlt are what an IMOD user expects an alignment to write (tiltalign's outputs, read by newstack and tilt),
/// and `align` writes them: the truth never takes those names, so aligning into the simulation's folder keeps it.
/// Each file is written whole or not at all.
/// </summary>
public static class SimulationFiles
{
    public static SimulationFileSet Write(SimulatedSeries series, string directory, string name, double pixelSizeAngstrom)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new TomalignInputException(null, $"'{name}' is not a usable file name", "give --name a plain file name without folders");
        try { Directory.CreateDirectory(directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TomalignInputException(directory, $"cannot create the output folder ({e.Message})", "choose a writable --out folder", e);
        }
        string P(string ext) => Path.GetFullPath(Path.Combine(directory, name + ext));
        var set = new SimulationFileSet(P(".mrc"), P(".rawtlt"), P(".truth.tlt"), P(".truth.xf"), P(".beads.txt"), P(".truth.json"));

        var o = series.Options;
        MrcWriter.WriteStack(set.Stack, series.Raw, MrcMode.Float32, new MrcWriteOptions
        {
            PixelSizeAngstrom = pixelSizeAngstrom,
            Labels = [$"tomalign simulate: {o.Nx}x{o.Ny}, tilts {o.TiltMin}..{o.TiltMax} step {o.TiltStep}, seed {o.Seed}"],
        });
        ImodText.WriteAngles(set.RawTilt, series.NominalTilts);
        ImodText.WriteAngles(set.Tilt, series.TrueTilts, decimals: 4);
        ImodText.WriteXf(set.Xf, series.AligningTransforms);
        var sb = new StringBuilder();
        sb.AppendLine("# bead  x  y  z  radius   (pixels, specimen frame relative to the volume centre; y along the tilt axis)");
        for (int j = 0; j < series.Beads.Length; j++)
        {
            var b = series.Beads[j];
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{j + 1} {b.X:F4} {b.Y:F4} {b.Z:F4} {b.Radius:F3}"));
        }
        AtomicFile.WriteAllText(set.Beads, sb.ToString());
        AtomicFile.WriteAllText(set.Truth, series.ToJson());
        return set;
    }
}
