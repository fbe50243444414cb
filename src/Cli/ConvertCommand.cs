using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Formats;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>AreTomo .aln ↔ IMOD .xf + .tlt.</summary>
    private static Command Convert(TextWriter stdout, TextWriter stderr)
    {
        var aln = new Option<string?>("--aln") { Description = "An AreTomo alignment (.aln) to write as IMOD's NAME.xf and NAME.tlt." };
        var xf = new Option<string?>("--xf") { Description = "IMOD transforms raw → aligned (.xf) to write as AreTomo's NAME.aln (with --tlt and --size)." };
        var tlt = new Option<string?>("--tlt") { Description = "The tilt angles of --xf (.tlt)." };
        var size = new Option<string?>("--size") { Description = "The raw stack size NX,NY for --xf." };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the input's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the outputs.", Required = true };
        var cmd = new Command("convert",
            "Convert an alignment between AreTomo and IMOD: --aln F.aln → NAME.xf + NAME.tlt (dark views: identity transform, their own tilt), " +
            "or --xf F.xf --tlt F.tlt --size NX,NY → NAME.aln. The transform of an .aln row is a shift by −(TX, TY), then a rotation by ROT, " +
            "divided by GMAG (AreTomo's own IMOD export).")
        { aln, xf, tlt, size, name, output };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string? alnPath = p.GetValue(aln), xfPath = p.GetValue(xf);
            string dir = p.GetValue(output)!;
            if ((alnPath is null) == (xfPath is null))
                throw new TomalignInputException(null, alnPath is null ? "nothing to convert" : "both --aln and --xf were given",
                    "give either --aln F.aln, or --xf F.xf --tlt F.tlt --size NX,NY");
            Directory.CreateDirectory(dir);
            if (alnPath is not null)
            {
                string baseName = RequireBaseName(p.GetValue(name) ?? Path.GetFileNameWithoutExtension(alnPath));
                var file = AreTomoAln.Read(alnPath);
                var (xfs, tilts) = file.ToImod();
                string xfOut = Path.Combine(dir, baseName + ".xf"), tltOut = Path.Combine(dir, baseName + ".tlt");
                ImodText.WriteXf(xfOut, xfs);
                ImodText.WriteAngles(tltOut, tilts);
                ctx.Log.LogInformation("{Views} views ({Dark} dark) from {Aln}", file.RawNz, file.DarkFrames.Count, alnPath);
                ctx.Out.WriteLine($"Wrote {xfOut} and {tltOut}");
                return ExitCodes.Ok;
            }
            string tltPath = p.GetValue(tlt) ?? throw new TomalignInputException(xfPath, "--xf needs the tilt angles", "add --tlt F.tlt");
            string sizeText = p.GetValue(size) ?? throw new TomalignInputException(xfPath, "--xf needs the stack size", "add --size NX,NY (the raw stack's)");
            var parts = sizeText.Split(',', 'x', 'X');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int nx) || !int.TryParse(parts[1], out int ny) || nx < 1 || ny < 1)
                throw new TomalignInputException(null, $"--size '{sizeText}' is not NX,NY", "give the raw stack size, e.g. --size 4096,4096");
            var transforms = ImodText.ReadXf(xfPath!);
            var angles = ImodText.ReadAngles(tltPath);
            ImodText.RequireSameCount("{0} transforms", transforms.Length, "{0} tilt angles", angles.Length, tltPath,
                "give the .tlt of the same series (one angle per view)");
            AreTomoAln result;
            try { result = AreTomoAln.FromImod(transforms, angles, nx, ny); }
            catch (ArgumentException e) { throw new TomalignInputException(xfPath, e.Message, "an .aln holds rotations, one magnification and shifts only"); }
            string outPath = Path.Combine(dir, RequireBaseName(p.GetValue(name) ?? Path.GetFileNameWithoutExtension(xfPath!)) + ".aln");
            result.Write(outPath);
            ctx.Out.WriteLine($"Wrote {outPath}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
